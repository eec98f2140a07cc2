"""Replicas of one service: each envelope handled once, in order, while one replica lives.

Every replica reads the service's whole stream (:mod:`bus.inbox`). Connections are spread
over ``count`` partitions by a hash of their id, and each partition has one owner at a
time, by a lease in Redis: ``wslab:svc:<service>:partition:<n>`` holds the owner's replica
id and expires unless the owner renews it. The owner handles the partition's envelopes, in
stream order, so a connection's envelopes are handled in the order its gateway appended
them; the other replicas skip them.

The stream keeps what is not handled yet. Each owner records, once a period and when it
releases a partition, in the hash ``wslab:svc:<service>:done``, the id of the stream entry
through which it handled each of its partitions. A replica that takes a partition over,
because its owner released it (and recorded where it stopped) or died (and its lease
expired), handles the partition's entries after that id first. Entries every partition's
owner handled are trimmed from the stream.

Each replica registers in ``wslab:svc:<service>:replicas`` until a lease from now, by
Redis's clock, and takes free partitions up to its share, ``ceil(count / replicas)``; an
owner with more than its share releases the extra ones. A replica that cannot renew its
leases in time (Redis away) stops handling at once, before another may take its partitions,
and takes back those whose leases still name it once its renewals are on time again.
See docs/ARCHITECTURE.md, "Service replicas".
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import socket
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import TypeAlias

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

import bus

__all__ = ["Partitions", "partition_of"]

logger = logging.getLogger("wslab.servicekit")

RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""
"""Renews a lease held by ARGV[1]; returns 0 if it is not (another replica took it after
it expired, or this one released it meanwhile). KEYS: the lease. ARGV: the replica, the
lease in ms."""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
"""
"""Frees a lease held by ARGV[1]. KEYS: the lease."""

REGISTER = """
local now = redis.call('TIME')
local seconds = now[1] + now[2] / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', seconds)
redis.call('ZADD', KEYS[1], seconds + tonumber(ARGV[2]), ARGV[1])
return redis.call('ZCARD', KEYS[1])
"""
"""Registers replica ARGV[1] as live for ARGV[2] seconds, and forgets the replicas whose
registration expired. KEYS: the live replicas (:func:`bus.service_replicas`). Returns how
many are live.

Times are Redis's own, as in the gateway's append (:data:`bus.APPEND`): a registration is
live for a lease from when Redis records it, whatever the replica's clock says and however
long its call waited (redis-py retries a command for seconds while Redis is away)."""

CatchUp: TypeAlias = Callable[[int, bus.StreamId], Awaitable[bus.StreamId]]
"""Handles a partition's entries after the given id, up to where the replica has read;
returns the id through which the partition is then handled."""


def _retrieved(recorded: asyncio.Future[object]) -> None:
    """Take a record's outcome: one that failed (Redis away) only means that the next owner
    handles those entries again, and the services make that harmless."""
    if not recorded.cancelled():
        recorded.exception()


def partition_of(conn: str, count: int) -> int:
    """Return the partition of a connection among ``count``."""
    return zlib.crc32(conn.encode()) % count


class Partitions:
    """This replica's share of a service's connections.

    Args:
        client: the Redis client.
        service: the service's name, ``chat``.
        count: how many partitions; every replica of the service must use the same.
        lease: seconds a partition's lease lasts unless renewed; renewed every third.
        publisher: what the service publishes its answers with: where each partition was
            handled through is recorded by it, after the answers.
        replica: this replica's id; by default the host name and a random suffix.
        clock: the monotonic clock the leases are timed by.

    Attributes:
        owned: the partitions this replica owns, each with the id of the stream entry
            through which it is handled: later ones are this replica's to handle.
        period: seconds between two calls of :meth:`renew` or :meth:`balance`: a third of
            ``lease``, so that leases are renewed in time.
    """

    def __init__(
        self,
        client: Redis,
        service: str,
        *,
        count: int,
        lease: float,
        publisher: bus.Publisher,
        replica: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = client
        self.service = service
        self.count = count
        self.lease = lease
        self.publisher = publisher
        self.period = lease / 3
        self.replica = replica or f"{socket.gethostname()}-{secrets.token_hex(3)}"
        self.clock = clock
        self.owned: dict[int, bus.StreamId] = {}
        self.stream = bus.service_stream(service)
        self.replicas_key = bus.service_replicas(service)
        self.done_key = bus.service_key(service, "done")
        # How many replicas were live at the last renewal.
        self._sharing = 1
        # Until when, by ``clock``, the leases of ``owned`` are surely still this replica's.
        self._held_until = -math.inf
        self._renew: AsyncScript = client.register_script(RENEW)
        self._release: AsyncScript = client.register_script(RELEASE)
        self._registration: AsyncScript = client.register_script(REGISTER)

    def of(self, conn: str) -> int:
        """Return the partition of a connection."""
        return partition_of(conn, self.count)

    def lease_key(self, partition: int) -> str:
        """Return the key of a partition's lease: ``wslab:svc:chat:partition:3``."""
        return bus.service_key(self.service, f"partition:{partition}")

    def handles(self, partition: int, entry: bus.StreamId) -> bool:
        """Whether this replica is to handle an entry of ``partition`` now.

        Once the leases were not renewed in time, they may be another replica's: this one
        owns nothing from then on, and takes partitions over again as any replica does.
        """
        if self.owned and self.clock() >= self._held_until:
            logger.warning("! leases not renewed in time: giving up %s", sorted(self.owned))
            self.owned.clear()
        through = self.owned.get(partition)
        return through is not None and entry > through

    def handled(self, through: bus.StreamId) -> None:
        """Record that every entry of the owned partitions up to ``through`` is handled:
        after the answers already asked for, in the publisher's order, so that an answer is
        never lost to a takeover."""
        if not self.owned:
            return
        for partition, last in self.owned.items():
            self.owned[partition] = max(last, through)
        fields = [item for p, last in self.owned.items() for item in (p, bus.format_id(last))]
        self.publisher.command("HSET", self.done_key, *fields).add_done_callback(_retrieved)

    async def renew(self) -> None:
        """Say that this replica is alive and renew its leases; call it every ``period``."""
        started = self.clock()
        self._sharing = await self._registration(
            keys=[self.replicas_key], args=[self.replica, self.lease]
        )
        for partition in sorted(self.owned):
            renewed = await self._renew(
                keys=[self.lease_key(partition)], args=[self.replica, self._lease_ms]
            )
            if not renewed and self.owned.pop(partition, None) is not None:
                logger.warning("! lost partition %d to another replica", partition)
        self._held_until = started + self.lease

    async def balance(self, catch_up: CatchUp) -> None:
        """Release this replica's extra partitions, take free ones up to its share, and trim
        the stream of what every partition's owner handled.

        Call it every ``period``, never while an envelope is handled: a partition must not
        change hands in the middle of one. ``catch_up`` runs for each partition taken.

        It takes nothing while its leases are not renewed in time: it would give up what it
        took at its next envelope. It takes back a partition whose lease still names it: one
        it gave up when a renewal came late (Redis away), which nobody else may take until
        that lease expires.
        """
        target = math.ceil(self.count / self._sharing)
        for partition in sorted(self.owned, reverse=True)[: max(0, len(self.owned) - target)]:
            await self.release(partition)
        if self.clock() < self._held_until:
            await self._take(target - len(self.owned), catch_up)
        await self._trim()

    async def _take(self, wanted: int, catch_up: CatchUp) -> None:
        """Take up to ``wanted`` partitions: free ones, and those whose lease names this
        replica."""
        candidates = [partition for partition in range(self.count) if partition not in self.owned]
        holders = await self.redis.mget([self.lease_key(partition) for partition in candidates])
        for partition, holder in zip(candidates, holders, strict=True):
            if wanted <= 0:
                return
            key = self.lease_key(partition)
            if holder is None:
                taken = await self.redis.set(key, self.replica, px=self._lease_ms, nx=True)
            elif _text(holder) == self.replica:
                taken = await self._renew(keys=[key], args=[self.replica, self._lease_ms])
            else:
                continue
            if taken:
                await self._take_over(partition, catch_up)
                wanted -= 1

    async def release(self, partition: int | None = None) -> None:
        """Release one partition, or all of them and this replica's registration, after
        recording where each was handled through."""
        partitions = sorted(self.owned) if partition is None else [partition]
        for released in partitions:
            through = self.owned.pop(released)
            await self.publisher.command("HSET", self.done_key, released, bus.format_id(through))
            await self._release(keys=[self.lease_key(released)], args=[self.replica])
        if partition is None:
            await self.redis.zrem(self.replicas_key, self.replica)
        if partitions:
            logger.info("= released partitions %s", partitions)

    async def _take_over(self, partition: int, catch_up: CatchUp) -> None:
        """Handle what the partition's last owner did not, then own it."""
        recorded: bytes | str | None = await self.redis.hget(self.done_key, str(partition))
        through = bus.parse_id(recorded) if recorded is not None else (0, 0)
        self.owned[partition] = await catch_up(partition, through)
        logger.info("= took partition %d over after %s", partition, bus.format_id(through))

    async def _trim(self) -> None:
        """Drop the stream's entries that every partition's owner has handled."""
        done: list[bytes | str | None] = await self.redis.hmget(
            self.done_key, [str(p) for p in range(self.count)]
        )
        if all(through is not None for through in done):
            oldest = min(bus.parse_id(through) for through in done if through is not None)
            await self.redis.xtrim(self.stream, minid=bus.format_id(oldest), approximate=True)

    @property
    def _lease_ms(self) -> int:
        return max(1, round(self.lease * 1000))


def _text(value: bytes | str) -> str:
    """A value read from Redis, whether the client decodes responses or not."""
    return value.decode() if isinstance(value, bytes) else value
