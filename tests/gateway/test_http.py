"""Tests of gateway.http: the limits every connection's HTTP side is held to, as a front
proxy would hold them: the head's size however it arrives, a deadline for each request,
every socket counted, WebSocket over HTTP/1.1 only."""

from __future__ import annotations

import asyncio
import contextlib
import os

import pytest

from gateway.connection import ConnectionSettings
from gateway.http import head_size
from tests.gateway.draft_client import DraftClient, http_exchange, opening_request
from tests.gateway.endpoints import Seen, make_app
from tests.gateway.metrics import sample
from tests.gateway.server import RunningServer, run_server
from tests.waiting import until, within
from wsdraft import Limits

#: The request deadline of these tests: only waited for, so any machine reaches it.
SHORT = Limits(handshake_timeout=0.5)


def get(path: str, *headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: localhost", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def answer(reader: asyncio.StreamReader) -> bytes:
    """One response to a request the app does not serve: a 404 with a JSON body."""
    head = await within(reader.readuntil(b"\r\n\r\n"), "the response's head")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.startswith(b"content-length")
    )
    return head + await within(reader.readexactly(length), "the response's body")


@pytest.mark.parametrize(
    ("buffer", "size"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody", 27),
        (b"GET / HTTP/1.1\nHost: a\n\nbody", 24),
        (b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", 18),
        (b"GET / HTTP/1.1\r\nHost: a", 23),
        (b"", 0),
    ],
)
def test_a_head_s_size_runs_to_its_blank_line_or_to_the_end_while_incomplete(
    buffer: bytes, size: int
) -> None:
    assert head_size(buffer) == size


@pytest.mark.parametrize("pieces", [1, 20], ids=["in one write", "in pieces"])
async def test_a_head_over_the_limit_gets_431_however_it_arrives(seen: Seen, pieces: int) -> None:
    before = sample("wslab_http_refusals_total", status="431")
    async with run_server(make_app(seen)) as server:
        request = get("/", f"X-Padding: {'x' * 60_000}")
        reader, writer = await asyncio.open_connection(server.host, server.port)
        step = len(request) // pieces + 1
        for start in range(0, len(request), step):
            writer.write(request[start : start + step])
            await writer.drain()
        received = await within(reader.read(), "the server's answer, then EOF")
        writer.close()
    assert received.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert received.endswith(b"\r\n\r\nthe request head is over 16384 bytes\n")
    assert sample("wslab_http_refusals_total", status="431") == before + 1


async def test_a_client_still_sending_when_refused_reads_the_whole_answer(seen: Seen) -> None:
    # Closed at once with bytes unread, the socket would send a reset, and the client would
    # lose the 431 before reading it; the gateway ends its side and drops what comes.
    async with run_server(make_app(seen)) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(get("/", f"X-Padding: {'x' * 20_000}")[:-4])  # no end: more is coming

        async def keep_sending() -> None:
            with contextlib.suppress(ConnectionError):
                for _ in range(1000):
                    writer.write(b"X-More: " + b"y" * 1000 + b"\r\n")
                    await writer.drain()

        sending = asyncio.create_task(keep_sending())
        received = await within(reader.read(), "the server's answer, then EOF")
        await within(sending, "the client to have sent everything")
        writer.close()
    assert received.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert received.endswith(b"\r\n\r\nthe request head is over 16384 bytes\n")


async def test_a_refused_connection_is_closed_after_lingering(seen: Seen) -> None:
    settings = ConnectionSettings(linger=0.1)
    async with run_server(make_app(seen, settings)) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(get("/", f"X-Padding: {'x' * 20_000}"))
        assert (await within(reader.read(), "the answer, then EOF")).startswith(b"HTTP/1.1 431")
        # The client neither closes nor sends: the gateway closes at the end of the linger.
        await until(lambda: not settings.live, "the refused socket to be closed")
        writer.close()


async def test_a_head_within_the_limit_is_served(seen: Seen) -> None:
    async with run_server(make_app(seen)) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(get("/nowhere", f"X-Padding: {'x' * 16_000}"))
        assert (await answer(reader)).startswith(b"HTTP/1.1 404 Not Found\r\n")
        writer.close()


async def test_a_second_request_trickling_in_gets_408_at_its_deadline(seen: Seen) -> None:
    async with run_server(make_app(seen, ConnectionSettings(limits=SHORT))) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(get("/nowhere"))
        assert (await answer(reader)).startswith(b"HTTP/1.1 404 Not Found\r\n")

        async def trickle() -> None:
            for byte in b"GET /nowhere HTTP/1.1\r\nHost: localhost\r\n":
                writer.write(bytes([byte]))
                await asyncio.sleep(0.05)

        trickling = asyncio.create_task(trickle())
        received = await within(reader.read(), "the server to give up on the request")
        trickling.cancel()
        writer.close()
    assert received.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert received.endswith(b"the request did not arrive in time\n")


async def test_a_body_that_does_not_arrive_in_time_ends_the_connection(seen: Seen) -> None:
    async with run_server(make_app(seen, ConnectionSettings(limits=SHORT))) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        head = b"POST /nowhere HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n"
        writer.write(head + b"x" * 10)
        received = await within(reader.read(), "the server to give up on the body")
        writer.close()
    # The app answered before the body came; the connection ends at the deadline anyway.
    assert received.startswith(b"HTTP/1.1 404 Not Found\r\n")


async def test_an_http_1_0_upgrade_gets_505(seen: Seen, server: RunningServer) -> None:
    request = opening_request("/echo", f"{server.host}:{server.port}", os.urandom(8))
    request = request.replace(b" HTTP/1.1\r\n", b" HTTP/1.0\r\n", 1)
    response = await http_exchange(server.host, server.port, request)
    assert response.status == 505
    assert response.body == b"HTTP/1.0 is not supported, use 1.1\n"


async def test_idle_http_connections_count_toward_the_connection_limit(seen: Seen) -> None:
    settings = ConnectionSettings(max_connections=2)
    async with run_server(make_app(seen, settings)) as server:
        idle = [await asyncio.open_connection(server.host, server.port) for _ in range(2)]
        await until(lambda: len(settings.live) == 2, "the server to count both connections")
        reader, writer = await asyncio.open_connection(server.host, server.port)
        received = await within(reader.read(), "the server to refuse a third connection")
        writer.close()
        assert received.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert received.endswith(b"the server is full (2 connections)\n")
        # One idle connection goes: a WebSocket connection takes its place.
        idle[0][1].close()
        await until(lambda: len(settings.live) == 1, "the server to see one connection go")
        async with await DraftClient.connect(server.host, server.port, "/echo"):
            pass
        idle[1][1].close()
