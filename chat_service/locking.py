"""A lock that many holders share, or one holds alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["SharedLock"]


class SharedLock:
    """Held by many at once (:meth:`shared`) or by one alone (:meth:`exclusive`).

    The chat's handlers run together, each for its own connection, and share it; the
    sweeper, which forgets connections, holds it alone, so that it never forgets one half-way
    through a handler. A waiting exclusive holder goes before new shared ones, so a steady
    stream of handlers cannot keep the sweeper out.
    """

    def __init__(self) -> None:
        self._changed = asyncio.Condition()
        self._sharing = 0
        self._exclusive = False
        self._waiting = 0  # Exclusive holders waiting.

    @asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        """Hold it with others, once no exclusive holder holds it or waits for it."""
        async with self._changed:
            await self._changed.wait_for(lambda: not self._exclusive and not self._waiting)
            self._sharing += 1
        try:
            yield
        finally:
            async with self._changed:
                self._sharing -= 1
                self._changed.notify_all()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold it alone, once every holder let it go."""
        async with self._changed:
            self._waiting += 1
            try:
                await self._changed.wait_for(lambda: not self._exclusive and not self._sharing)
            finally:
                self._waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            async with self._changed:
                self._exclusive = False
                self._changed.notify_all()
