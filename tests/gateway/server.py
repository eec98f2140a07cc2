"""Run an ASGI app in a real uvicorn server in this process, serving the draft.

Like uvicorn's own ``tests/utils.py: run_server``: the server runs as a task of the test's
event loop, on a free loopback port, with gateway.connection's protocols for HTTP and WebSocket
as ``python -m gateway`` runs them, and with the app's lifespan on, so that the lifespan
state reaches every connection::

    async with run_server(app) as server:
        client = await DraftClient.connect(server.host, server.port, "/echo")
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

from tests.waiting import POLL, Hang, within


@dataclass(frozen=True)
class RunningServer:
    """A server started by :func:`run_server`."""

    server: uvicorn.Server
    host: str
    port: int

    def url(self, path: str, scheme: str = "ws") -> str:
        """Return the URL of ``path`` on this server, for example ``ws://127.0.0.1:4321/chat``."""
        return f"{scheme}://{self.host}:{self.port}{path}"


@asynccontextmanager
async def run_server(app: Any, **options: Any) -> AsyncIterator[RunningServer]:
    """Serve ``app`` until the block ends, then shut the server down gracefully.

    Shutting down waits for every connection to end, so a test that leaves one open fails
    here (tests.waiting.Hang) instead of hanging.

    Args:
        app: the ASGI application.
        options: more :class:`uvicorn.Config` arguments.
    """
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        http="gateway.http:HTTPProtocol",
        ws="gateway.connection:Connection",
        lifespan="on",
        log_config=None,  # Leave logging to pytest.
        **options,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> None:
        while not server.started:
            if task.done():
                task.result()  # Raise why it stopped.
                msg = "the server stopped during startup"
                raise RuntimeError(msg)
            await asyncio.sleep(POLL)

    try:
        await within(started(), "the server to start")
        port: int = server.servers[0].sockets[0].getsockname()[1]
        yield RunningServer(server, "127.0.0.1", port)
    finally:
        server.should_exit = True
        try:
            await within(asyncio.shield(task), "the server to stop, every connection closed")
        except Hang:
            server.force_exit = True
            await task
            raise


def shrink_send_buffer(transport: asyncio.BaseTransport, size: int = 4096) -> None:
    """Fix the kernel's send buffer of one of the server's connections at about ``size``.

    On loopback, Linux grows a socket's send buffer up to megabytes (``tcp_wmem``): a
    client that does not read would have to leave that much unread before the transport's
    own buffer, and flow control, come into play. Tests of slow clients shrink it.
    """
    transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
