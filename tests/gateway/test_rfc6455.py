"""Tests of gateway.rfc6455 and gateway.wire: RFC 6455 beside the draft, on the same port.

The test app of tests/gateway/endpoints.py runs in a real uvicorn; RFC 6455 clients are the
``websockets`` library's, an implementation independent of the adapter under test, or raw
sockets where a test must send what no good client would.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode

from gateway.connection import ConnectionSettings
from gateway.draft import draft_framing
from gateway.origins import OriginPolicy
from gateway.outbox import Outgoing
from gateway.rfc6455 import RFC6455Wire
from gateway.wire import NEITHER
from tests.gateway.draft_client import TEXT, DraftClient, http_exchange
from tests.gateway.endpoints import Seen, make_app
from tests.gateway.metrics import handshakes, sample
from tests.gateway.server import RunningServer, run_server
from tests.waiting import until, within
from wsdraft import Limits


def ws_url(server: RunningServer, resource: str) -> str:
    return f"ws://{server.host}:{server.port}{resource}"


def connect(server: RunningServer, resource: str, **options: object) -> ws_connect:
    """websockets' client, without compression, which the gateway does not offer anyway."""
    return ws_connect(ws_url(server, resource), compression=None, **options)  # type: ignore[arg-type]


def upgrade_request(server: RunningServer, resource: str, *headers: str) -> bytes:
    """An RFC 6455 opening request, with more ``headers`` lines."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {resource} HTTP/1.1",
        f"Host: {server.host}:{server.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class RawClient:
    """An RFC 6455 client on a raw socket, to send frames no library would."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, server: RunningServer, resource: str) -> RawClient:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(upgrade_request(server, resource, "Sec-WebSocket-Version: 13"))
        head = await within(reader.readuntil(b"\r\n\r\n"), "the 101")
        assert head.startswith(b"HTTP/1.1 101 ")
        return cls(reader, writer)

    def send(self, frame: Frame) -> None:
        self.writer.write(frame.serialize(mask=True))

    async def recv_close(self) -> tuple[int, str]:
        """The code and reason of the Close the server sends next."""
        head = await within(self.reader.readexactly(2), "a frame from the server")
        assert head[0] == 0x88, f"expected a Close, got 0x{head[0]:02x}"
        body = await self.reader.readexactly(head[1])
        (code,) = struct.unpack("!H", body[:2])
        return code, body[2:].decode()

    async def read_to_eof(self) -> bytes:
        return await within(self.reader.read(), "the server to close the connection")

    async def aclose(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


# The choice of protocol.


async def test_a_websockets_client_and_a_draft_client_share_the_port_and_the_path(
    server: RunningServer, seen: Seen
) -> None:
    before = handshakes("accepted", "ok", protocol="rfc6455")
    async with connect(server, "/echo") as ws:
        await ws.send("hello")
        assert await within(ws.recv(), "the echo") == "hello"
        await ws.send(b"\x00\xff")
        assert await within(ws.recv(), "the binary echo") == b"\x00\xff"
        async with await DraftClient.connect(server.host, server.port, "/echo") as draft:
            await draft.send(TEXT, b"from the draft")
            assert await draft.recv_message() == (TEXT, b"from the draft")
            await draft.close()
    assert handshakes("accepted", "ok", protocol="rfc6455") == before + 1
    assert await seen.get() == {"type": "websocket.receive", "text": "hello"}
    assert await seen.get() == {"type": "websocket.receive", "bytes": b"\x00\xff"}


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param((), id="neither header"),
        pytest.param(("Sec-WebSocket-Version: 8",), id="version 8"),
    ],
)
async def test_an_upgrade_in_neither_protocol_gets_426_naming_both(
    server: RunningServer, headers: tuple[str, ...]
) -> None:
    before = handshakes("rejected", "426", protocol="none")
    response = await http_exchange(
        server.host, server.port, upgrade_request(server, "/echo", *headers)
    )
    assert response.status == 426
    assert response.headers["sec-websocket-version"] == "13"
    assert response.headers["connection"] == "close"
    assert response.body == f"{NEITHER}\n".encode()
    assert "RFC 6455" in NEITHER
    assert "Sec-WebSocket-Draft" in NEITHER
    assert handshakes("rejected", "426", protocol="none") == before + 1


async def test_the_endpoint_sees_the_same_scope_in_either_protocol(server: RunningServer) -> None:
    async with connect(server, "/scope/caf%C3%A9?nick=alice", origin="http://localhost:5173") as ws:
        assert await within(ws.recv(), "the scope") == (
            '{"name":"café","path":"/scope/café","raw_path":"/scope/caf%C3%A9",'
            '"query_string":"nick=alice","scheme":"ws","subprotocols":[],'
            '"origin":"http://localhost:5173"}'
        )


# The handshake's refusals.


@pytest.mark.parametrize("origin", ["http://evil.example", "null"])
async def test_an_origin_not_allowed_is_forbidden_and_none_is_a_program(
    seen: Seen, origin: str
) -> None:
    settings = ConnectionSettings(origins=OriginPolicy(("http://good.example",)))
    async with run_server(make_app(seen, settings)) as server:
        before = handshakes("rejected", "origin", protocol="rfc6455")
        with pytest.raises(InvalidStatus) as excinfo:
            await connect(server, "/echo", origin=origin)
        assert excinfo.value.response.status_code == 403
        assert excinfo.value.response.body == f"origin {origin} is not allowed\n".encode()
        assert handshakes("rejected", "origin", protocol="rfc6455") == before + 1
        own = f"http://{server.host}:{server.port}"
        for allowed in ("http://good.example", own, None):
            async with connect(server, "/echo", origin=allowed) as ws:
                await ws.send("in")
                assert await within(ws.recv(), "the echo") == "in"


@pytest.mark.parametrize(
    ("resource", "status", "body"),
    [
        ("/refuse?reason=members+only", 403, b"members only\n"),
        ("/raise", 500, b"the application did not answer the handshake\n"),
    ],
)
async def test_an_endpoint_that_refuses_or_fails_answers_with_its_status(
    server: RunningServer, resource: str, status: int, body: bytes
) -> None:
    with pytest.raises(InvalidStatus) as excinfo:
        await connect(server, resource)
    assert excinfo.value.response.status_code == status
    assert excinfo.value.response.body == body


async def test_a_bad_rfc6455_request_gets_400_with_the_reason(server: RunningServer) -> None:
    request = upgrade_request(server, "/echo", "Sec-WebSocket-Version: 13").replace(
        b"Sec-WebSocket-Key: ", b"Sec-WebSocket-Key: x"
    )
    response = await http_exchange(server.host, server.port, request)
    assert response.status == 400
    assert response.body.startswith(b"invalid Sec-WebSocket-Key header")


async def test_connections_beyond_max_connections_get_503_in_either_protocol(seen: Seen) -> None:
    async with run_server(make_app(seen, ConnectionSettings(max_connections=1))) as server:
        first = await DraftClient.connect(server.host, server.port, "/hold")
        await seen.outbox()
        with pytest.raises(InvalidStatus) as excinfo:
            await connect(server, "/hold")
        assert excinfo.value.response.status_code == 503
        assert excinfo.value.response.headers["Retry-After"] == "5"
        await first.close()
        await seen.get()


# Messages and bad frames.


async def test_a_fragmented_text_message_reaches_the_app_whole(
    server: RunningServer, seen: Seen
) -> None:
    client = await RawClient.open(server, "/echo")
    data = "déjà vu".encode()
    # "é" is cut between the first two fragments; a ping comes between the last two.
    client.send(Frame(Opcode.TEXT, data[:2], fin=False))
    client.send(Frame(Opcode.CONT, data[2:5], fin=False))
    client.send(Frame(Opcode.PING, b""))
    client.send(Frame(Opcode.CONT, data[5:]))
    assert await seen.get() == {"type": "websocket.receive", "text": "déjà vu"}
    await client.aclose()
    await seen.get()


async def test_a_ping_gets_a_pong(server: RunningServer) -> None:
    async with connect(server, "/echo") as ws:
        pong = await ws.ping(b"are you there")
        latency = await within(pong, "the pong")
        assert latency >= 0


@pytest.mark.parametrize(
    ("frames", "code", "reason"),
    [
        pytest.param(
            [Frame(Opcode.TEXT, b"caf\xe9")], 1007, "invalid UTF-8 in a text message", id="UTF-8"
        ),
        pytest.param(
            [Frame(Opcode.TEXT, b"caf\xc3", fin=False), Frame(Opcode.CONT, b"!")],
            1007,
            "invalid UTF-8 in a text message",
            id="UTF-8 across fragments",
        ),
        pytest.param(
            [Frame(Opcode.BINARY, bytes(1025))],
            1009,
            "frame with 1025 bytes exceeds limit of 1024 bytes",
            id="too big",
        ),
        pytest.param(
            [Frame(Opcode.CONT, b"x")], 1002, "unexpected continuation frame", id="continuation"
        ),
    ],
)
async def test_a_bad_frame_closes_with_its_code_and_reason(
    seen: Seen, frames: list[Frame], code: int, reason: str
) -> None:
    settings = ConnectionSettings(limits=Limits(max_message_size=1024))
    async with run_server(make_app(seen, settings)) as server:
        client = await RawClient.open(server, "/echo")
        for frame in frames:
            client.send(frame)
        assert await client.recv_close() == (code, reason)
        assert await client.read_to_eof() == b""
        await client.aclose()
        disconnect = await seen.get()
        assert disconnect["type"] == "websocket.disconnect"
        assert disconnect["code"] == 1006


async def test_an_unmasked_frame_closes_with_a_protocol_error(seen: Seen) -> None:
    async with run_server(make_app(seen)) as server:
        client = await RawClient.open(server, "/echo")
        client.writer.write(Frame(Opcode.TEXT, b"not masked").serialize(mask=False))
        assert await client.recv_close() == (1002, "incorrect masking")
        assert await client.read_to_eof() == b""
        await client.aclose()
        assert (await seen.get())["code"] == 1006


# Closing.


async def test_a_close_from_the_client_reaches_the_app_with_its_reason(
    server: RunningServer, seen: Seen
) -> None:
    async with connect(server, "/echo") as ws:
        await ws.close(1000, "bye")
    assert await seen.get() == {"type": "websocket.disconnect", "code": 1000, "reason": "bye"}


async def test_a_close_from_the_app_reaches_the_client_with_its_reason(
    server: RunningServer,
) -> None:
    async with connect(server, "/echo") as ws:
        await ws.send("close")
        with pytest.raises(ConnectionClosed) as excinfo:
            await within(ws.recv(), "the Close")
    assert excinfo.value.rcvd is not None
    assert (excinfo.value.rcvd.code, excinfo.value.rcvd.reason) == (1000, "as asked")


async def test_stopping_the_server_closes_with_going_away(seen: Seen) -> None:
    async with run_server(make_app(seen)) as server:
        ws: ClientConnection = await connect(server, "/hold")
        await seen.outbox()
        server.server.should_exit = True
        with pytest.raises(ConnectionClosed) as excinfo:
            await within(ws.recv(), "the Close")
        assert excinfo.value.rcvd is not None
        assert (excinfo.value.rcvd.code, excinfo.value.rcvd.reason) == (
            1001,
            "server shutting down",
        )


# One message, framed once per protocol.


async def test_a_message_is_framed_once_per_protocol_in_use(
    server: RunningServer, seen: Seen
) -> None:
    clients = [await connect(server, "/hold") for _ in range(2)]
    draft = await DraftClient.connect(server.host, server.port, "/hold")
    outboxes = [await seen.outbox() for _ in range(3)]
    message = Outgoing.of("x" * 70_000)
    for outbox in outboxes:
        assert outbox.send(message) is True
    # The frames the connections were given are those built the first time.
    rfc6455, draft_frames = (
        message.framed(RFC6455Wire.framing),
        message.framed(draft_framing(65536)),
    )
    assert message.framed(RFC6455Wire.framing) is rfc6455
    assert message.framed(draft_framing(65536)) is draft_frames
    for ws in clients:
        assert await within(ws.recv(), "the message") == "x" * 70_000
        await ws.close()
    assert await draft.recv_message() == (TEXT, b"x" * 70_000)
    await draft.close()
    assert len(rfc6455) == 1  # RFC 6455: one frame; the draft fragments at 64 KiB.
    assert len(draft_frames) == 2
    for _ in outboxes:
        await seen.get()


async def test_open_connections_are_counted_by_protocol(server: RunningServer) -> None:
    before = sample("wslab_open_connections", protocol="rfc6455")
    async with connect(server, "/echo") as ws:
        await ws.send("counted")
        await within(ws.recv(), "the echo")
        assert sample("wslab_open_connections", protocol="rfc6455") == before + 1
    await until(
        lambda: sample("wslab_open_connections", protocol="rfc6455") == before,
        "the closed connection to be uncounted",
    )
