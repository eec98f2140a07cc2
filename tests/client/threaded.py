"""Servers in a thread of their own, for tests that run ``wslab`` synchronously."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

DEADLINE = 10.0  # seconds a test waits for something to happen before failing


@dataclass
class Serving:
    """Servers running in ``loop``, in another thread, on these ``ports``."""

    loop: asyncio.AbstractEventLoop
    ports: list[int]


@contextlib.contextmanager
def serving(*starts: Callable[[], Awaitable[asyncio.Server]]) -> Iterator[Serving]:
    """Start a server with each of ``starts`` in a new event loop running in a thread."""
    loop = asyncio.new_event_loop()
    servers = [loop.run_until_complete(start()) for start in starts]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield Serving(loop, [server.sockets[0].getsockname()[1] for server in servers])
    finally:
        asyncio.run_coroutine_threadsafe(_stop(servers), loop).result(DEADLINE)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


async def _stop(servers: list[asyncio.Server]) -> None:
    """Close the servers and cancel the handlers of their connections, which close their
    transports: left pending, they would warn about unclosed transports in a later test."""
    for server in servers:
        server.close()
    handlers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in handlers:
        task.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)
    for server in servers:
        await server.wait_closed()
