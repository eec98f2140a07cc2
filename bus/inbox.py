"""A service's inbox: the Redis stream its gateways append envelopes to (docs/BUS.md).

Pub/sub delivers at most once: a service whose connection Redis cut (its output buffer
full, a failover, a network blip) lost what was published meanwhile, and the gateway had
already counted it as received. A stream keeps every envelope until the service's replicas
have handled it; a reader cut off reads on from where it was.

- ``wslab:svc:<service>:in`` (:func:`~bus.channels.service_stream`): each entry has two
  fields, ``conn`` (the connection's id, to find its partition without decoding) and
  ``envelope`` (the JSON of :class:`~bus.messages.Envelope`).
- ``wslab:svc:<service>:replicas`` (:func:`~bus.channels.service_replicas`): the live
  replicas. A gateway appends only while one is live; otherwise the client is told the
  service is not running, as before, rather than left waiting.

:data:`APPEND` is the gateway's side; :class:`StreamReader` the service's.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

import redis.asyncio as redis

from .tasks import reconnecting

__all__ = [
    "APPEND",
    "Appended",
    "Entry",
    "StreamId",
    "StreamReader",
    "entries_after",
    "format_id",
    "parse_id",
]

logger = logging.getLogger("wslab.bus")

APPEND = """
local now = redis.call('TIME')
if redis.call('ZCOUNT', KEYS[2], now[1] + now[2] / 1000000, '+inf') == 0 then return 0 end
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
redis.call('XADD', KEYS[1], '*', 'conn', ARGV[1], 'envelope', ARGV[2])
return 1
"""
"""Appends an envelope to a service's stream if a replica of the service is live and the
stream is not full. KEYS: the stream, the service's replicas. ARGV: the connection, the
envelope, the most entries the stream may hold. Returns an :class:`Appended`."""


class Appended(enum.IntEnum):
    """What :data:`APPEND` did."""

    APPENDED = 1
    NO_REPLICA = 0
    """No replica of the service is live: nobody would handle it."""
    FULL = -1
    """The stream holds its most entries: the service is far behind."""


StreamId = tuple[int, int]
"""A stream entry's id, ``1732492800101-0``, as numbers, so that ids compare."""

Entry = tuple[StreamId, dict[bytes, bytes]]
"""A stream entry: its id and its fields."""

Handler = Callable[[list[Entry]], Awaitable[None]]
"""Called with each batch of entries read, in order, one batch at a time."""


def parse_id(text: bytes | str) -> StreamId:
    """Read a stream id: ``b"1732492800101-3"`` is ``(1732492800101, 3)``."""
    ms, _, seq = (text.decode() if isinstance(text, bytes) else text).partition("-")
    return int(ms), int(seq or 0)


def format_id(stream_id: StreamId) -> str:
    """Write a stream id as Redis does: ``(1732492800101, 3)`` is ``"1732492800101-3"``."""
    return f"{stream_id[0]}-{stream_id[1]}"


def _entries(found: Any) -> list[Entry]:
    """Entries as redis-py returns them, for one stream: ``[(b"1-0", {b"conn": ...}), ...]``."""
    raw = cast("list[tuple[bytes, dict[bytes, bytes] | None]]", found)
    return [(parse_id(entry_id), fields or {}) for entry_id, fields in raw]


async def entries_after(
    client: redis.Redis, stream: str, after: StreamId, through: StreamId, *, count: int
) -> list[Entry]:
    """The first ``count`` entries of a stream after ``after``, up to ``through``."""
    found = await client.xrange(stream, f"({format_id(after)}", format_id(through), count=count)
    return _entries(found)


class StreamReader:
    """Reads a stream in batches with ``run()`` until cancelled, reconnecting as needed.

    It starts after the stream's last entry when it first connects, and after a lost
    connection it reads on from the last entry it read: nothing appended meanwhile is missed.

    Args:
        client: the Redis client.
        stream: the stream's key.
        handler: called with each batch; its exceptions are logged, and the batch counts
            as read.
        count: the most entries in one batch.
        block: how long one read waits for entries, in seconds.
        max_backoff: the longest wait between two reconnection attempts, in seconds.
    """

    def __init__(
        self,
        client: redis.Redis,
        stream: str,
        handler: Handler,
        *,
        count: int = 100,
        block: float = 1.0,
        max_backoff: float = 2.0,
    ) -> None:
        self.client = client
        self.stream = stream
        self.handler = handler
        self.count = count
        self.block = block
        self.max_backoff = max_backoff
        #: Set while reading; cleared while reconnecting.
        self.connected = asyncio.Event()
        #: The id of the last entry read; None until the reader first connects.
        self.position: StreamId | None = None

    async def run(self) -> None:
        """Read and hand over batches until cancelled."""
        lost = f"the stream {self.stream}"
        await reconnecting(self._read, self.connected, lost=lost, max_backoff=self.max_backoff)

    async def _read(self) -> None:
        if self.position is None:
            last = _entries(await self.client.xrevrange(self.stream, count=1))
            self.position = last[0][0] if last else (0, 0)
        else:
            await self.client.ping()  # Redis answers.
        self.connected.set()
        logger.info("= reading %s after %s", self.stream, format_id(self.position))
        block_ms = max(1, round(self.block * 1000))
        while True:
            found = await self.client.xread(
                {self.stream: format_id(self.position)}, count=self.count, block=block_ms
            )
            for _, entries in cast("list[tuple[bytes, Any]]", found):
                batch = _entries(entries)
                try:
                    await self.handler(batch)
                except Exception:
                    logger.exception("! handler failed on a batch of %s", self.stream)
                self.position = batch[-1][0]
