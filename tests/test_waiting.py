"""The waits of tests/waiting.py: they return on the event and say what never came."""

import asyncio

import pytest

from tests.waiting import Hang, until, until_sync, within


async def test_within_returns_what_the_awaitable_gives() -> None:
    assert await within(asyncio.sleep(0, "done"), "a nap") == "done"


async def test_within_says_what_it_waited_for_when_it_never_comes() -> None:
    with pytest.raises(Hang, match=r"waited 0.01 s for the answer"):
        await within(asyncio.Event().wait(), "the answer", timeout=0.01)


async def test_until_returns_once_the_condition_holds() -> None:
    calls = iter([False, False, True])
    await until(lambda: next(calls), "the third call")


def test_until_sync_says_what_it_waited_for_when_it_never_comes() -> None:
    with pytest.raises(Hang, match=r"waited 0.01 s for a miracle"):
        until_sync(lambda: False, "a miracle", timeout=0.01)
