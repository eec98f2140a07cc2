"""Tests of gateway.connection and gateway.draft: the draft served by a real uvicorn to
FastAPI endpoints.

Each test runs a small FastAPI app (:func:`make_app`) in uvicorn on a loopback port and talks
to it over real sockets, mostly with the independent client of tests/gateway/draft_client.py,
so that a mistake shared by wsdraft's two sides cannot hide.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
from typing import Any

import pytest

from client import connect
from gateway.connection import RECEIVED_AT, ConnectionSettings
from gateway.draft import draft_framing
from gateway.http import HTTPProtocol
from gateway.origins import OriginPolicy
from gateway.outbox import Outbox, Outgoing
from tests.gateway.draft_client import (
    BINARY,
    CLOSE,
    CONTINUATION,
    HELLO,
    PING,
    PONG,
    TEXT,
    DraftClient,
    Frame,
    connect_socket,
    frame,
    http_exchange,
    opening_request,
)
from tests.gateway.endpoints import Seen, connection_of, make_app
from tests.gateway.metrics import handshakes, sample
from tests.gateway.server import RunningServer, run_server, shrink_send_buffer
from tests.waiting import HANG, within
from wsdraft import HandshakeRejected, Limits, State

#: The project client's limits: a handshake or a close may take as long as a hang.
PATIENT = Limits(handshake_timeout=HANG, close_timeout=HANG)


async def client_for(server: RunningServer, resource: str) -> DraftClient:
    return await DraftClient.connect(server.host, server.port, resource)


def request_for(server: RunningServer, resource: str, **options: Any) -> bytes:
    return opening_request(resource, f"{server.host}:{server.port}", os.urandom(8), **options)


DISCONNECT_LOST = {"type": "websocket.disconnect", "code": 1006, "reason": ""}


# The opening handshake.


async def test_an_independent_draft_client_completes_the_handshake(
    server: RunningServer, seen: Seen
) -> None:
    async with await client_for(server, "/echo") as client:
        assert client.response.status == 101
        assert client.response.reason == "Switching Protocols"
        assert client.response.headers == {
            "upgrade": "WebSocket",
            "connection": "Upgrade",
            "sec-websocket-origin": "http://localhost",
            "sec-websocket-location": f"ws://{server.host}:{server.port}/echo",
        }
        await client.send(TEXT, b"hello")
        assert await client.recv_message() == (TEXT, b"hello")
        assert await client.close(b"bye") == b"bye"
    assert await seen.get() == {"type": "websocket.receive", "text": "hello"}


async def test_the_project_client_completes_the_handshake(server: RunningServer) -> None:
    async with connect(server.url("/echo"), proxy=None, limits=PATIENT) as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.send(b"\x00\xff")
        assert await ws.recv() == b"\x00\xff"
        closed = await ws.close(b"bye")
    assert closed.clean
    assert closed.body == b"bye"


async def test_the_endpoint_sees_path_query_scheme_origin_and_subprotocol(
    server: RunningServer,
) -> None:
    url = server.url("/scope/caf%C3%A9?nick=alice&room=lobby")
    async with connect(
        url, proxy=None, subprotocol="chat/1", origin="http://localhost:5173", limits=PATIENT
    ) as ws:
        assert ws.subprotocol == "chat/1"
        assert json.loads(await ws.recv()) == {
            "name": "café",
            "path": "/scope/café",
            "raw_path": "/scope/caf%C3%A9",
            "query_string": "nick=alice&room=lobby",
            "scheme": "ws",
            "subprotocols": ["chat/1"],
            "origin": "http://localhost:5173",
        }


async def test_an_accepted_handshake_counts_as_accepted(server: RunningServer) -> None:
    before = handshakes("accepted", "ok")
    async with await client_for(server, "/echo") as client:
        await client.close()
    assert handshakes("accepted", "ok") == before + 1


BAD_REQUESTS = [
    pytest.param(
        {"headers": {"Origin": None}},
        400,
        "missing Origin header",
        id="missing Origin",
    ),
    pytest.param(
        {"method": "POST"},
        405,
        "POST is not allowed, use GET",
        id="POST",
    ),
    pytest.param(
        {"headers": {"Sec-WebSocket-Nonce": "A23F2BCA452DDE0Z"}},
        400,
        "Sec-WebSocket-Nonce must be 16 hex digits",
        id="bad nonce",
    ),
    pytest.param(
        {"headers": {"Sec-WebSocket-Nonce": None}},
        400,
        "missing Sec-WebSocket-Nonce header",
        id="missing nonce",
    ),
    pytest.param(
        {"headers": {"Sec-WebSocket-Draft": "2"}},
        400,
        "Sec-WebSocket-Draft 2 is not supported, use 3",
        id="unsupported draft",
    ),
    pytest.param(
        {"headers": {"Sec-WebSocket-Protocol": "chat.v1"}},
        400,
        "Sec-WebSocket-Protocol may only use A-Z a-z 0-9 / _ -",
        id="bad subprotocol",
    ),
]


@pytest.mark.parametrize(("options", "status", "reason"), BAD_REQUESTS)
async def test_a_bad_request_gets_its_status_and_a_one_line_reason(
    server: RunningServer, options: dict[str, Any], status: int, reason: str
) -> None:
    before = handshakes("rejected", str(status))
    response = await http_exchange(
        server.host, server.port, request_for(server, "/echo", **options)
    )
    assert response.status == status
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["connection"] == "close"
    assert response.body == f"{reason}\n".encode()
    assert handshakes("rejected", str(status)) == before + 1


async def test_a_refused_method_is_told_to_use_get(server: RunningServer) -> None:
    request = request_for(server, "/echo", method="POST")
    response = await http_exchange(server.host, server.port, request)
    assert response.status == 405
    assert response.reason == "Method Not Allowed"
    assert response.headers["allow"] == "GET"


async def test_a_resource_with_a_colon_is_refused(server: RunningServer) -> None:
    request = request_for(server, "/echo?t=12:30")
    response = await http_exchange(server.host, server.port, request)
    assert response.status == 400
    assert response.body == (
        b"invalid resource name: it must not contain ':', spaces or control characters, "
        b"even %-encoded\n"
    )


@pytest.mark.parametrize("origin", ["http://evil.example", "null"])
async def test_an_origin_not_allowed_is_forbidden(seen: Seen, origin: str) -> None:
    settings = ConnectionSettings(origins=OriginPolicy(("http://good.example",)))
    async with run_server(make_app(seen, settings)) as server:
        before = handshakes("rejected", "origin")
        evil = request_for(server, "/echo", headers={"Origin": origin})
        response = await http_exchange(server.host, server.port, evil)
        assert response.status == 403
        assert response.body == f"origin {origin} is not allowed\n".encode()
        assert handshakes("rejected", "origin") == before + 1

        for origin in ("http://good.example", f"http://{server.host}:{server.port}"):
            headers = {"Origin": origin}
            client = await DraftClient.connect(server.host, server.port, "/echo", headers=headers)
            assert client.response.headers["sec-websocket-origin"] == origin
            await client.close()


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        ("/refuse", "the server refused the connection"),
        ("/refuse?reason=members+only", "members only"),
    ],
)
async def test_an_endpoint_that_closes_before_accepting_refuses_with_403(
    server: RunningServer, resource: str, reason: str
) -> None:
    before = handshakes("rejected", "403")
    response = await http_exchange(server.host, server.port, request_for(server, resource))
    assert response.status == 403
    assert response.body == f"{reason}\n".encode()
    assert handshakes("rejected", "403") == before + 1


@pytest.mark.parametrize("resource", ["/raise", "/return"])
async def test_an_endpoint_that_fails_or_returns_before_accepting_gets_500(
    server: RunningServer, resource: str
) -> None:
    before = handshakes("rejected", "500")
    response = await http_exchange(server.host, server.port, request_for(server, resource))
    assert response.status == 500
    assert response.body == b"the application did not answer the handshake\n"
    assert handshakes("rejected", "500") == before + 1


async def test_the_project_client_reports_a_refusal_with_its_status_and_reason(
    server: RunningServer,
) -> None:
    with pytest.raises(HandshakeRejected) as excinfo:
        await connect(server.url("/refuse?reason=members+only"), proxy=None, limits=PATIENT)
    assert excinfo.value.status == 403
    assert excinfo.value.reason == "members only"


async def test_connections_beyond_max_connections_get_503_with_retry_after(seen: Seen) -> None:
    async with run_server(make_app(seen, ConnectionSettings(max_connections=1))) as server:
        first = await client_for(server, "/hold")
        await seen.outbox()
        before = sample("wslab_http_refusals_total", status="503")
        response = await http_exchange(server.host, server.port, request_for(server, "/hold"))
        assert response.status == 503
        assert response.headers["retry-after"] == "5"
        assert response.body == b"the server is full (1 connections)\n"
        assert sample("wslab_http_refusals_total", status="503") == before + 1

        await first.close()
        assert await seen.get() == {"type": "websocket.disconnect", "code": 1000, "reason": ""}
        # The first connection's place is free again.
        second = await client_for(server, "/hold")
        await seen.outbox()
        await second.close()
        await seen.get()


async def test_an_overloaded_server_answers_new_connections_503(seen: Seen) -> None:
    async with run_server(make_app(seen, ConnectionSettings(overloaded=lambda: True))) as server:
        before = handshakes("rejected", "overloaded")
        response = await http_exchange(server.host, server.port, request_for(server, "/echo"))
        assert response.status == 503
        assert response.headers["retry-after"] == "5"
        assert response.body == b"the server is overloaded; try again later\n"
        assert handshakes("rejected", "overloaded") == before + 1


# The HELLO exchange and its deadline.


@pytest.mark.parametrize(
    "hello",
    [
        pytest.param(b"\x8f\x10" + bytes(16), id="wrong digest"),
        pytest.param(frame(TEXT, b"hello there, sixteen"), id="a message instead"),
    ],
)
async def test_a_wrong_client_hello_closes_without_a_response(
    server: RunningServer, hello: bytes
) -> None:
    before = handshakes("failed", "hello")
    client = await DraftClient.open(server.host, server.port, "/echo")
    await client.send_raw(hello)
    assert await client.read_to_eof() == b""
    await client.aclose()
    assert handshakes("failed", "hello") == before + 1


async def test_a_client_that_sends_no_hello_is_dropped_at_the_handshake_timeout(
    seen: Seen,
) -> None:
    settings = ConnectionSettings(limits=Limits(handshake_timeout=0.5))
    async with run_server(make_app(seen, settings)) as server:
        before = handshakes("failed", "timeout")
        # Raw: on a slow machine the timeout may fall before the 101, or after the HELLO.
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(request_for(server, "/echo"))
        received = await within(reader.read(), "the server to drop the connection")
        writer.close()
        await writer.wait_closed()
        assert received == b"" or received.startswith(b"HTTP/1.1 101 ")
        assert handshakes("failed", "timeout") == before + 1


@pytest.mark.parametrize(
    ("sent", "answer"),
    [
        pytest.param(b"", b"", id="nothing"),
        pytest.param(
            b"GET /echo HTTP/1.1\r\nHost: localhost\r\n",
            b"HTTP/1.1 408 Request Timeout\r\n",
            id="half a request",
        ),
    ],
)
async def test_a_client_that_connects_and_stalls_is_dropped_at_the_handshake_timeout(
    seen: Seen, sent: bytes, answer: bytes
) -> None:
    settings = ConnectionSettings(limits=Limits(handshake_timeout=0.5))
    async with run_server(make_app(seen, settings)) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(sent)
        received = await within(reader.read(), "the server to drop the connection")
        assert received.startswith(answer)
        assert received.endswith(b"the request did not arrive in time\n" if answer else b"")
        writer.close()
        await writer.wait_closed()


async def test_the_http_protocol_is_let_go_once_the_connection_takes_over(
    server: RunningServer, seen: Seen
) -> None:
    clients = [await client_for(server, "/hold") for _ in range(3)]
    for _ in clients:
        await seen.outbox()
    gc.collect()
    # Its request timer, still scheduled, would keep it alive for handshake_timeout.
    held = [
        protocol
        for protocol in gc.get_objects()
        if isinstance(protocol, HTTPProtocol) and (protocol.scope or {}).get("path") == "/hold"
    ]
    assert held == []
    for client in clients:
        await client.close()
        await seen.get()


# Messages, pings and bad frames.


@pytest.mark.parametrize(("opcode", "unit"), [(TEXT, b"x"), (BINARY, b"\x00")])
async def test_a_70000_byte_message_reaches_the_app_whole_and_returns_in_fragments(
    server: RunningServer, seen: Seen, opcode: int, unit: bytes
) -> None:
    data = unit * 70_000
    async with await client_for(server, "/echo") as client:
        await client.send(opcode, data)
        received = await seen.get()
        if opcode == TEXT:
            assert received == {"type": "websocket.receive", "text": data.decode()}
        else:
            assert received == {"type": "websocket.receive", "bytes": data}
        # Beyond fragment_size (64 KiB) the server sends fragments.
        assert await client.recv_frame() == Frame(False, opcode, data[:65536])
        assert await client.recv_frame() == Frame(True, CONTINUATION, data[65536:])
        await client.close()


async def test_a_message_reaches_the_app_with_the_time_it_arrived(seen: Seen) -> None:
    settings = ConnectionSettings(clock=lambda: 1_796_500_000.25)
    async with run_server(make_app(seen, settings)) as server:
        async with await client_for(server, "/stamped") as client:
            await client.send(TEXT, b"when?")
            assert await seen.get() == {
                "type": "websocket.receive",
                "text": "when?",
                RECEIVED_AT: 1_796_500_000.25,
            }
            await client.close()
        await seen.get()


async def test_a_fragmented_message_with_a_ping_between_fragments_reaches_the_app_whole(
    server: RunningServer, seen: Seen
) -> None:
    data = "déjà vu, fragmented".encode()
    # The first cut falls inside "é": UTF-8 is decoded across fragments.
    async with await client_for(server, "/echo") as client:
        await client.send(TEXT, data[:2], fin=False)
        await client.send(PING, b"between fragments")
        await client.send(CONTINUATION, data[2:10], fin=False)
        await client.send(CONTINUATION, data[10:])
        assert await client.recv_frame() == Frame(True, PONG, b"between fragments")
        assert await seen.get() == {"type": "websocket.receive", "text": "déjà vu, fragmented"}
        assert await client.recv_message() == (TEXT, data)
        await client.close()


async def test_a_ping_gets_a_pong_with_the_same_payload(server: RunningServer, seen: Seen) -> None:
    async with await client_for(server, "/echo") as client:
        await client.send(PING, b"are you there")
        assert await client.recv_frame() == Frame(True, PONG, b"are you there")
        await client.send(TEXT, b"after the ping")
        assert await client.recv_message() == (TEXT, b"after the ping")
        await client.close()
    # The app never hears of pings.
    assert await seen.get() == {"type": "websocket.receive", "text": "after the ping"}


BAD_FRAMES = [
    pytest.param(frame(6, b"?"), "reserved opcode 0x6", id="reserved opcode"),
    pytest.param(frame(TEXT, b"caf\xe9"), "invalid UTF-8 in a text message", id="bad UTF-8"),
    pytest.param(frame(TEXT, b"x", rsv=0b1000), "reserved bits RSV1-3 must be 0", id="RSV1"),
    pytest.param(frame(TEXT, b"x", rsv=0b0010), "reserved bits RSV1-3 must be 0", id="RSV3"),
    pytest.param(frame(TEXT, b"x", rsv=0b0001), "reserved bit RSV4 must be 0", id="RSV4"),
    pytest.param(
        frame(HELLO, bytes(16)), "HELLO frame after the opening handshake", id="second HELLO"
    ),
    pytest.param(
        frame(CONTINUATION, b"x"),
        "continuation frame without a message to continue",
        id="lone continuation",
    ),
    pytest.param(frame(PING, bytes(126)), "PING frame longer than 125 bytes", id="long ping"),
    pytest.param(
        # Only the head: the server fails as soon as it reads the length.
        frame(BINARY, bytes(2**20 + 1))[:10],
        "frame of 1048577 bytes exceeds the limit of 1048576 bytes",
        id="frame too big",
    ),
]


@pytest.mark.parametrize(("data", "reason"), BAD_FRAMES)
async def test_a_bad_frame_closes_the_connection_with_the_reason(
    server: RunningServer, seen: Seen, data: bytes, reason: str
) -> None:
    async with await client_for(server, "/echo") as client:
        await client.send_raw(data)
        assert await client.recv_frame() == Frame(True, CLOSE, reason.encode())
        assert await client.read_to_eof() == b""
    assert await seen.get() == DISCONNECT_LOST


# Closing.


async def test_a_clean_close_from_the_client_reaches_the_app_as_a_disconnect(
    server: RunningServer, seen: Seen
) -> None:
    async with await client_for(server, "/echo") as client:
        assert await client.close(b"bye") == b"bye"
    assert await seen.get() == {"type": "websocket.disconnect", "code": 1000, "reason": "bye"}


async def test_a_close_from_the_app_starts_the_closing_handshake(server: RunningServer) -> None:
    async with await client_for(server, "/echo") as client:
        await client.send(TEXT, b"close")
        assert await client.recv_frame() == Frame(True, CLOSE, b"as asked")
        await client.send(CLOSE, b"as asked")
        assert await client.read_to_eof() == b""


async def test_a_client_that_vanishes_reaches_the_app_as_an_abnormal_disconnect(
    server: RunningServer, seen: Seen
) -> None:
    client = await client_for(server, "/echo")
    await client.aclose()
    assert await seen.get() == DISCONNECT_LOST


async def test_sending_after_the_client_left_raises_in_the_app(
    server: RunningServer, seen: Seen
) -> None:
    async with await client_for(server, "/late") as client:
        await client.close(b"gone")
    assert await seen.get() == {"type": "websocket.disconnect", "code": 1000, "reason": "gone"}
    assert await seen.get() == ("send failed", 1006)
    # The server carries on.
    async with await client_for(server, "/echo") as client:
        await client.close()


async def test_stopping_the_server_closes_open_connections_with_a_reason(seen: Seen) -> None:
    async with run_server(make_app(seen)) as server:
        client = await client_for(server, "/hold")
        await seen.outbox()
        server.server.should_exit = True
        assert await client.recv_frame() == Frame(True, CLOSE, b"server shutting down")
        await client.send(CLOSE, b"server shutting down")
        assert await client.read_to_eof() == b""
        await client.aclose()
    assert await seen.get() == {
        "type": "websocket.disconnect",
        "code": 1000,
        "reason": "server shutting down",
    }


# The outbox.


async def test_the_outbox_writes_the_same_frames_to_every_connection(
    server: RunningServer, seen: Seen
) -> None:
    clients = [await client_for(server, "/hold") for _ in range(3)]
    outboxes = [await seen.outbox() for _ in clients]
    message = Outgoing.of("x" * 70_000)
    for outbox in outboxes:
        assert outbox.send(message) is True
    frames = message.framed(draft_framing(65536))
    expected = b"".join(frames)
    assert len(frames) == 2
    for client in clients:
        frames = await within(client.reader.readexactly(len(expected)), "the prepared frames")
        assert frames == expected
        await client.close()
    for outbox in outboxes:
        assert outbox.send(message) is False  # closed
        await seen.get()


async def test_what_the_outbox_sends_in_one_turn_leaves_in_one_write_before_a_close(
    server: RunningServer, seen: Seen
) -> None:
    client = await client_for(server, "/hold")
    outbox = await seen.outbox()
    transport = connection_of(outbox).transport
    writes: list[bytes] = []
    write = transport.write

    def counting(data: bytes | bytearray | memoryview) -> None:
        writes.append(bytes(data))
        write(data)

    transport.write = counting  # type: ignore[method-assign]
    for n in range(3):
        assert outbox.send(Outgoing.of(f"message {n}")) is True
    outbox.close("after the messages")
    assert [await client.recv_text() for _ in range(3)] == [f"message {n}" for n in range(3)]
    assert await client.recv_frame() == Frame(True, CLOSE, b"after the messages")
    # The three messages in one write, the Close in the next.
    assert len(writes) == 2
    await client.send(CLOSE, b"after the messages")
    assert await client.read_to_eof() == b""
    await client.aclose()
    await seen.get()


async def test_a_client_that_does_not_read_is_closed_as_too_slow(seen: Seen) -> None:
    settings = ConnectionSettings(max_write_buffer=64 * 1024, limits=Limits(close_timeout=0.2))
    async with run_server(make_app(seen, settings)) as server:
        raw = await connect_socket(server.host, server.port, "/hold", receive_buffer=4096)
        try:
            outbox = await seen.outbox()
            message = Outgoing.of("x" * 16_384)
            before = sample("wslab_slow_closes_total")

            connection = connection_of(outbox)

            async def until_refused() -> tuple[State, int]:
                while outbox.send(message):
                    await asyncio.sleep(0)
                # Seen in the turn of the refusal: close_timeout later, the connection is gone.
                return connection.state, connection.buffered()

            state, buffered = await within(until_refused(), "the outbox to refuse a message")
            assert sample("wslab_slow_closes_total") == before + 1
            assert state is State.CLOSING
            assert buffered > settings.max_write_buffer
            # The Close cannot get through either: the connection is dropped at close_timeout.
            assert await seen.get() == DISCONNECT_LOST
        finally:
            raw.close()


# The outbox: conflation.

# A slow client: the transport's high-water mark is low, so that a few messages make it slow.
SLOW = ConnectionSettings(slow_write_buffer=4096, max_write_buffer=64 * 1024)


def text(value: str) -> Outgoing:
    return Outgoing.of(value)


def held(outbox: Outbox) -> dict[str, str]:
    return {topic: message.payload.decode() for topic, message in outbox.held.items()}


async def make_slow(outbox: Outbox) -> list[str]:
    """Write messages to a client that does not read until it is slow; return them."""
    shrink_send_buffer(connection_of(outbox).transport)
    written: list[str] = []

    async def until_slow() -> None:
        while outbox.writable:
            written.append(f"{len(written):04} " + "x" * 1000)
            assert outbox.send(text(written[-1])) is True
            await asyncio.sleep(0)

    await within(until_slow(), "the client to be slow")
    return written


async def read_texts(client: DraftClient, count: int) -> list[str]:
    return [await client.recv_text() for _ in range(count)]


async def test_a_slow_client_gets_the_latest_message_of_each_key_when_it_catches_up(
    seen: Seen,
) -> None:
    async with run_server(make_app(seen, SLOW)) as server:
        raw = await connect_socket(server.host, server.port, "/hold", receive_buffer=4096)
        outbox = await seen.outbox()
        for key in ("MSFT", "AAPL"):
            outbox.conflate(key, True)
        written = await make_slow(outbox)
        before = sample("wslab_conflated_messages_total")
        for n in range(10):
            for key in ("MSFT", "AAPL"):
                assert outbox.send(text(f"{key} {n}"), key) is True
        # Others are written at once, held messages or not.
        assert outbox.send(text("a reply")) is True
        assert outbox.send(text("not conflated"), "IBM") is True
        assert held(outbox) == {"MSFT": "MSFT 9", "AAPL": "AAPL 9"}
        assert sample("wslab_conflated_messages_total") == before + 18

        client = await raw.start_reading()
        expected = [*written, "a reply", "not conflated", "MSFT 9", "AAPL 9"]
        assert await read_texts(client, len(expected)) == expected
        assert outbox.held == {}
        assert outbox.writable
        await client.close()
        await seen.get()


async def test_conflated_messages_never_close_a_slow_client(seen: Seen) -> None:
    async with run_server(make_app(seen, SLOW)) as server:
        raw = await connect_socket(server.host, server.port, "/hold", receive_buffer=4096)
        outbox = await seen.outbox()
        outbox.conflate("big", True)
        written = await make_slow(outbox)
        connection = connection_of(outbox)
        waiting = connection.buffered()
        # Sixteen times max_write_buffer, in vain.
        big = "x" * 16_384
        for n in range(64):
            assert outbox.send(text(f"{n:02} {big}"), "big") is True
        assert connection.buffered() == waiting
        assert connection.state is State.OPEN

        client = await raw.start_reading()
        expected = [*written, f"63 {big}"]
        assert await read_texts(client, len(expected)) == expected
        await client.close()
        await seen.get()


async def test_a_forgotten_topic_is_not_sent_when_the_client_catches_up(seen: Seen) -> None:
    async with run_server(make_app(seen, SLOW)) as server:
        raw = await connect_socket(server.host, server.port, "/hold", receive_buffer=4096)
        outbox = await seen.outbox()
        for key in ("MSFT", "AAPL", "IBM"):
            outbox.conflate(key, True)
        written = await make_slow(outbox)
        for key in ("MSFT", "AAPL", "IBM"):
            assert outbox.send(text(key), key) is True
        outbox.forget("AAPL")
        outbox.forget("NVDA")  # never held: nothing happens
        assert list(outbox.held) == ["MSFT", "IBM"]

        client = await raw.start_reading()
        expected = [*written, "MSFT", "IBM"]
        assert await read_texts(client, len(expected)) == expected
        await client.close()
        await seen.get()


# Metrics.


async def test_metrics_count_connections_messages_and_bytes(server: RunningServer) -> None:
    names = ["wslab_messages_in_total", "wslab_messages_out_total"]
    names += ["wslab_bytes_in_total", "wslab_bytes_out_total"]
    before = {name: sample(name) for name in names}
    open_before = sample("wslab_open_connections", protocol="draft")
    client = await client_for(server, "/echo")
    await client.send(TEXT, b"hello")
    assert await client.recv_message() == (TEXT, b"hello")
    assert sample("wslab_open_connections", protocol="draft") == open_before + 1
    await client.close()
    assert sample("wslab_open_connections", protocol="draft") == open_before
    assert sample("wslab_messages_in_total") == before["wslab_messages_in_total"] + 1
    assert sample("wslab_messages_out_total") == before["wslab_messages_out_total"] + 1
    # In: the request, the client HELLO (18), "hello" (7) and the Close (2).
    assert sample("wslab_bytes_in_total") > before["wslab_bytes_in_total"] + 18 + 7 + 2
    # Out: the 101 and the server HELLO (26), "hello" (7) and the Close echo (2).
    assert sample("wslab_bytes_out_total") > before["wslab_bytes_out_total"] + 26 + 7 + 2
