"""Tests of chat_service.locking: handlers share the lock, the sweeper holds it alone."""

from __future__ import annotations

import asyncio

from chat_service.locking import SharedLock
from tests.waiting import within


async def test_shared_holders_hold_it_together() -> None:
    lock = SharedLock()
    inside = 0
    all_in = asyncio.Event()

    async def holder() -> None:
        nonlocal inside
        async with lock.shared():
            inside += 1
            if inside == 3:
                all_in.set()
            await all_in.wait()

    await within(asyncio.gather(holder(), holder(), holder()), "three holders at once")


async def test_an_exclusive_holder_waits_for_the_shared_ones_and_goes_before_new_ones() -> None:
    lock = SharedLock()
    order: list[str] = []
    release = asyncio.Event()

    async def shared(name: str, wait: asyncio.Event | None = None) -> None:
        async with lock.shared():
            order.append(f"{name} in")
            if wait is not None:
                await wait.wait()
            order.append(f"{name} out")

    async def exclusive() -> None:
        async with lock.exclusive():
            order.append("sweeper")

    first = asyncio.create_task(shared("first", release))
    await asyncio.sleep(0)  # first holds it.
    sweeper = asyncio.create_task(exclusive())
    await asyncio.sleep(0)  # The sweeper waits for first.
    second = asyncio.create_task(shared("second"))
    await asyncio.sleep(0)
    assert order == ["first in"]
    release.set()
    await within(asyncio.gather(first, sweeper, second), "everyone to be done")
    assert order == ["first in", "first out", "sweeper", "second in", "second out"]
