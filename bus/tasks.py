"""Stopping asyncio tasks that talk to Redis."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import Any

__all__ = ["cancel_and_wait"]

logger = logging.getLogger("wslab.bus")


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
