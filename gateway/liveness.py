"""Liveness: the gateway pings connections it has not heard from, and closes those that do
not answer, so that a peer that vanished without a word (a dead host, a cut cable, a NAT that
forgot the flow) does not hold its connection, its memory and its rooms forever.

Anything a client sends counts as being heard from: a pong, a message, a ping of its own.
The rule is a pure function of the times (:func:`next_step`); :func:`keep_alive` applies it
to every open connection of the process once every few seconds, with the clock passed in.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Iterable
from typing import Protocol

__all__ = ["Step", "keep_alive", "next_step"]


class Step(enum.Enum):
    """What to do with a connection now."""

    WAIT = "wait"
    PING = "ping"
    CLOSE = "close"


def next_step(
    now: float, heard: float, pinged: float | None, *, interval: float, timeout: float
) -> Step:
    """The step for a connection last heard from at ``heard`` and pinged at ``pinged``
    (None: no ping is waiting for its answer): ping it once it has been quiet for
    ``interval`` seconds, close it if ``timeout`` seconds pass without an answer."""
    if pinged is not None:
        return Step.CLOSE if now - pinged >= timeout else Step.WAIT
    return Step.PING if now - heard >= interval else Step.WAIT


class Pingable(Protocol):
    """What :func:`keep_alive` needs of a connection."""

    def check_alive(self, now: float) -> None:
        """Take the connection's :func:`next_step` at ``now``."""
        ...


async def keep_alive(
    connections: Callable[[], Iterable[Pingable]],
    clock: Callable[[], float],
    *,
    every: float,
) -> None:
    """Check ``connections()`` every ``every`` seconds, until cancelled."""
    while True:
        await asyncio.sleep(every)
        now = clock()
        for connection in list(connections()):
            connection.check_alive(now)
