"""Running and stopping asyncio tasks that talk to Redis."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["CONNECTION_ERRORS", "cancel_and_wait", "reconnecting"]

logger = logging.getLogger("wslab.bus")

CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
"""What a lost or refused Redis connection raises."""
_FIRST_BACKOFF = 0.05


async def reconnecting(
    read: Callable[[], Awaitable[None]],
    connected: asyncio.Event,
    *,
    lost: str,
    max_backoff: float,
    cleanup: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run ``read`` (which sets ``connected`` once it reads) again whenever its Redis
    connection fails, until cancelled: soon after a connection that worked, then backing
    off, twice as long each time up to ``max_backoff`` seconds, while Redis stays away.
    ``lost`` names what is logged as lost; ``cleanup`` runs after each failure."""
    backoff = _FIRST_BACKOFF
    while True:
        try:
            await read()
        except CONNECTION_ERRORS as exc:
            logger.warning("! %s lost (%s)", lost, exc)
        finally:
            if connected.is_set():  # It worked for a while: retry soon.
                backoff = _FIRST_BACKOFF
            connected.clear()
            if cleanup is not None:
                await cleanup()
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, max_backoff)


async def cancel_and_wait(tasks: Collection[asyncio.Task[Any]]) -> None:
    """Cancel tasks and wait until they are done.

    A task is cancelled again while it runs: on Python 3.11, ``asyncio.wait_for``, which
    redis-py uses to write commands, can swallow a cancellation (CPython gh-86296), so a
    loop that sends commands may survive one ``cancel()``.
    """
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            logger.debug("! %s ended with %r", task.get_name(), task.exception())
