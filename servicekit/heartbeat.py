"""The heartbeat: a file touched while the service is connected to the bus.

A container healthcheck cannot ask the service whether its pub/sub connection works, but
it can look at a file: :func:`beat` touches it every few seconds while connected, and
``python -m servicekit.health`` (:mod:`servicekit.health`) fails once it is stale.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

__all__ = ["beat"]

logger = logging.getLogger("wslab.servicekit")


async def beat(path: Path, connected: asyncio.Event, interval: float) -> None:
    """Touch ``path`` every ``interval`` seconds while ``connected`` is set; run until cancelled.

    While ``connected`` is clear, nothing is touched, so the file goes stale. A failure to
    write the file is logged, once until it works again, and never stops the loop.
    """
    failing = False
    while True:
        await connected.wait()
        try:
            path.touch()
        except OSError as exc:
            if not failing:
                logger.warning("! cannot touch the health file %s: %s", path, exc)
            failing = True
        else:
            failing = False
        await asyncio.sleep(interval)
