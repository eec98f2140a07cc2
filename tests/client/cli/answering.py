"""Servers that are not WebSocket servers, for the errors a user reads: each answers every
request with the same HTTP response."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from tests.client.threaded import serving

#: What the gateway answers on a path it has no route for.
REFUSAL = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 33\r\n\r\nthe server refused the connection"
#: A web page.
PAGE = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n"


@contextlib.contextmanager
def answering(response: bytes) -> Iterator[str]:
    """Run a server in a thread that answers every request with ``response``; yield its
    ``ws://`` URL, without a path."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(response)
            await writer.drain()
        writer.close()

    with serving(lambda: asyncio.start_server(handle, "127.0.0.1", 0)) as server:
        yield f"ws://127.0.0.1:{server.ports[0]}"
