"""Servers in a thread of their own, for tests that run ``wslab`` synchronously."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from tests.client.fake_gateway import FakeGateway, start
from tests.waiting import HANG, Hang, until_sync

T = TypeVar("T")


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
        run_in(loop, _stop(servers), "the servers in their thread to stop")
        loop.call_soon_threadsafe(loop.stop)
        until_sync(lambda: not thread.is_alive(), "the servers' event loop to stop")
        loop.close()


def run_in(loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, T], what: str) -> T:
    """Run ``coroutine`` in ``loop``, which runs in another thread, and return its result;
    fail saying ``what`` it was waiting for if that never comes."""
    future = asyncio.run_coroutine_threadsafe(coroutine, loop)
    try:
        return future.result(HANG)
    except concurrent.futures.TimeoutError:
        raise Hang(f"waited {HANG:g} s for {what}") from None


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


@dataclass
class Gateway:
    """A fake gateway running in a thread; :meth:`call` runs code in its event loop."""

    url: str
    fake: FakeGateway
    loop: asyncio.AbstractEventLoop

    def call(self, function: Callable[[], T]) -> T:
        async def run() -> T:
            return function()

        return run_in(self.loop, run(), f"the gateway to run {function.__qualname__}")


@contextlib.contextmanager
def in_thread(fake: FakeGateway) -> Iterator[Gateway]:
    """Run ``fake`` in a thread of its own, for tests that run ``wslab`` synchronously."""
    with serving(lambda: start(gateway=fake)) as server:
        yield Gateway(f"ws://127.0.0.1:{server.ports[0]}", fake, server.loop)
