"""Waiting in tests for an event, never for an amount of time.

A test waits for the thing it needs (a message, a state, a process's exit) and gives up only at
``HANG``, a bound a loaded machine never reaches and only a real hang does. When it gives up
it says what it was waiting for.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

#: Seconds after which a wait is a hang, on any machine however busy.
HANG = 60.0
#: How often a condition is checked when there is no event to wait on.
POLL = 0.01


class Hang(AssertionError):
    """What a test waited for did not come within its bound."""


async def within(awaitable: Awaitable[T], what: str, timeout: float = HANG) -> T:
    """The result of ``awaitable``; fails saying ``what`` did not happen after ``timeout``."""
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except TimeoutError:
        raise Hang(f"waited {timeout:g} s for {what}") from None


async def until(
    condition: Callable[[], object | Awaitable[object]],
    what: str,
    timeout: float = HANG,
    interval: float = POLL,
) -> None:
    """Returns once ``condition()`` (awaited, if it gives an awaitable: a look at Redis) is
    true, checked every ``interval``; fails saying ``what`` after ``timeout``."""

    async def holds() -> object:
        result = condition()
        return await result if inspect.isawaitable(result) else result

    async def poll() -> None:
        while not await holds():
            await asyncio.sleep(interval)

    await within(poll(), what, timeout)


def until_sync(
    condition: Callable[[], object], what: str, timeout: float = HANG, interval: float = POLL
) -> None:
    """``until`` for a test without an event loop."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise Hang(f"waited {timeout:g} s for {what}")
        time.sleep(interval)
