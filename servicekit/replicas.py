"""Replicas of one service: each envelope handled once, in order, while one replica lives.

Redis pub/sub gives every replica every envelope of the service's channel. Connections
are spread over ``count`` partitions by a hash of their id, and each partition has one
owner at a time, by a lease in Redis: ``wslab:svc:<service>:partition:<n>`` holds the
owner's replica id and expires unless the owner renews it. The owner handles the
partition's envelopes, one at a time in the order Redis delivered them, so a connection's
envelopes are handled in the order its gateway published them.

The other replicas are its standbys: they keep the partition's envelopes of the last
``window`` seconds. A replica that takes a partition over, because its owner stopped
(and released it) or died (and its lease expired), first handles those it kept that the
last owner did not: after each envelope the owner records its ``seq`` in
``wslab:svc:<service>:done:<conn>``, so the new owner knows where each connection is.

A partition is free when its owner released it (the key then holds ``@`` and the time of
the release, for a while) or died (the key expired). Each replica registers in
``wslab:svc:<service>:replicas`` with when it started listening. A dead owner's partitions
are taken only by the replica that has listened the longest: if any live replica kept the
envelopes that owner left unhandled, that one did. A released partition is taken by a
replica that has listened since before the release, so that what the owner left unhandled,
and what came while nobody owned it, is among what it kept (or by the longest-listening
replica, if none has), and that owns fewer than its share, ``ceil(count / replicas)``,
counting the replicas that have listened for ``maturity``; an owner with more than its share
releases the extra ones.
See docs/ARCHITECTURE.md, "Service replicas".
"""

from __future__ import annotations

import asyncio
import collections
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

__all__ = ["DONE_TTL", "Partitions", "partition_of"]

logger = logging.getLogger("wslab.servicekit")

DONE_TTL = 86_400
"""Seconds a connection's last handled ``seq`` is kept after its last envelope; after its
``close``, only as long as a replica may keep its envelopes (twice ``window``)."""

RENEW = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
"""Renews a lease held by ARGV[1] (or takes it back if it expired and nobody took it);
returns 0 if another replica holds it. KEYS: the lease. ARGV: the replica, the lease in ms."""

TAKE = """
local current = redis.call('GET', KEYS[1])
if current and string.sub(current, 1, 1) ~= '@' then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
"""Takes a free lease (missing, or released: ``@`` and a time) for ARGV[1]; returns 1 if it
did. KEYS: the lease. ARGV: the replica, the lease in ms."""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], '@' .. ARGV[3], 'PX', ARGV[2])
end
"""
"""Marks a lease held by ARGV[1] released at ARGV[3] (Unix time), for ARGV[2] ms (then it is
missing, as if its owner had died). KEYS: the lease."""

REGISTER = """
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
for _, replica in ipairs(dead) do
  redis.call('ZREM', KEYS[1], replica)
  redis.call('ZREM', KEYS[2], replica)
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
return redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
"""
"""Registers replica ARGV[1] as live until ARGV[3], listening since ARGV[4], and forgets
the replicas whose registration expired by ARGV[2] (Unix times). KEYS: the live replicas
by expiry, the same by when they started listening. Returns the live replicas and when
each started listening, the longest listening first."""

Handle: TypeAlias = Callable[[bus.Envelope], Awaitable[None]]


def _text(data: bytes | str) -> str:
    return data.decode() if isinstance(data, bytes) else data


def _released_at(holder: bytes | str | None) -> float | None:
    """When a lease whose value is ``holder`` was released (``@`` and a Unix time: replica
    ids never start with ``@``); None if it is held, or missing."""
    if holder is None or not (text := _text(holder)).startswith("@"):
        return None
    return float(text[1:])


def partition_of(conn: str, count: int) -> int:
    """Return the partition of a connection among ``count``."""
    return zlib.crc32(conn.encode()) % count


class Partitions:
    """This replica's share of a service's connections, and the envelopes of the others'.

    Args:
        client: the Redis client.
        service: the service's name, ``chat``.
        count: how many partitions; every replica of the service must use the same.
        lease: seconds a partition's lease lasts unless renewed; renewed every third.
        window: seconds of other partitions' envelopes kept, for a takeover.
        limit: the most envelopes kept per partition, whatever their age.
        replica: this replica's id; by default the host name and a random suffix.

    Attributes:
        owned: the partitions this replica owns.
        period: seconds between two calls of :meth:`balance`: a third of ``lease``, so that
            leases are renewed in time.
        maturity: seconds a replica listens before it counts in the shares, so that the
            owners do not release partitions to a replica that may be gone at once: two
            leases.
    """

    def __init__(
        self,
        client: Redis,
        service: str,
        *,
        count: int,
        lease: float,
        window: float,
        limit: int,
        replica: str | None = None,
    ) -> None:
        self.redis = client
        self.count = count
        self.lease = lease
        self.window = window
        self.period = lease / 3
        self.maturity = 2 * lease
        self.replica = replica or f"{socket.gethostname()}-{secrets.token_hex(3)}"
        self.owned: set[int] = set()
        self._prefix = bus.service_channel(service)
        self._kept: dict[int, collections.deque[tuple[float, bus.Envelope]]] = {
            partition: collections.deque(maxlen=limit) for partition in range(count)
        }
        self._renew: AsyncScript = client.register_script(RENEW)
        self._take: AsyncScript = client.register_script(TAKE)
        self._registration: AsyncScript = client.register_script(REGISTER)
        self._release: AsyncScript = client.register_script(RELEASE)

    def of(self, conn: str) -> int:
        """Return the partition of a connection."""
        return partition_of(conn, self.count)

    def lease_key(self, partition: int) -> str:
        """Return the key of a partition's lease: ``wslab:svc:chat:partition:3``."""
        return f"{self._prefix}:partition:{partition}"

    def done_key(self, conn: str) -> str:
        """Return the key of a connection's last handled seq: ``wslab:svc:chat:done:<conn>``."""
        return f"{self._prefix}:done:{conn}"

    @property
    def replicas_key(self) -> str:
        """The sorted set of live replicas, scored by when each one's registration expires."""
        return f"{self._prefix}:replicas"

    @property
    def since_key(self) -> str:
        """The sorted set of live replicas, scored by when each one started listening."""
        return f"{self._prefix}:replicas:since"

    def keep(self, envelope: bus.Envelope) -> None:
        """Keep an envelope of a partition this replica does not own, for a takeover."""
        now = time.monotonic()
        kept = self._kept[self.of(envelope.conn)]
        while kept and kept[0][0] < now - self.window:
            kept.popleft()
        kept.append((now, envelope))

    @property
    def kept(self) -> int:
        """How many envelopes are kept, all partitions together."""
        return sum(len(kept) for kept in self._kept.values())

    async def done(self, envelope: bus.Envelope) -> None:
        """Record that an envelope was handled."""
        ttl = math.ceil(2 * self.window) if envelope.kind == "close" else DONE_TTL
        await self.redis.set(self.done_key(envelope.conn), envelope.seq, ex=ttl)

    async def balance(self, lock: asyncio.Lock, handle: Handle, *, since: float) -> None:
        """Renew this replica's leases, release its extra partitions, take free ones.

        Call it every ``period``, with ``since``, the Unix time from which this replica has
        received every envelope: when its subscription was last confirmed. Seniority goes by
        it, not by when this is first called, so that the replica that listened the longest,
        and kept the most, is the one that takes a dead owner's partitions; and a released
        partition is taken only by a replica that was listening when it was released.
        Releasing and taking over happen under ``lock``, the lock the caller holds while it
        handles an envelope: a partition is never released in the middle of one. ``handle``
        runs each kept envelope of a taken partition that its last owner did not handle.
        """
        now = time.time()
        senior, sharing = await self._register(now, since)
        target = math.ceil(self.count / sharing)
        for partition in sorted(self.owned):
            if not await self._renew(
                keys=[self.lease_key(partition)], args=[self.replica, self._lease_ms]
            ):
                self.owned.discard(partition)
                logger.warning("! lost partition %d to another replica", partition)
        extra = sorted(self.owned, reverse=True)[: max(0, len(self.owned) - target)]
        candidates = [partition for partition in range(self.count) if partition not in self.owned]
        holders = await self.redis.mget([self.lease_key(partition) for partition in candidates])
        released = [
            partition
            for partition, holder in zip(candidates, holders, strict=True)
            if (at := _released_at(holder)) is not None and (senior or since <= at)
        ]
        orphaned = [p for p, holder in zip(candidates, holders, strict=True) if holder is None]
        free = released[: max(0, target - len(self.owned))] + (orphaned if senior else [])
        if not extra and not free:
            return
        async with lock:
            for partition in extra:
                await self.release(partition)
            for partition in free:
                if await self._take(
                    keys=[self.lease_key(partition)], args=[self.replica, self._lease_ms]
                ):
                    await self._take_over(partition, handle)

    async def release(self, partition: int | None = None) -> None:
        """Release one partition, or all of them and this replica's registration."""
        partitions = set(self.owned) if partition is None else {partition}
        window_ms = max(1, round(self.window * 1000))
        for released in sorted(partitions):
            self.owned.discard(released)
            await self._release(
                keys=[self.lease_key(released)], args=[self.replica, window_ms, time.time()]
            )
        if partition is None:
            await self.redis.zrem(self.replicas_key, self.replica)
            await self.redis.zrem(self.since_key, self.replica)
        if partitions:
            logger.info("= released partitions %s", sorted(partitions))

    def deaf(self) -> None:
        """Say that this replica does not receive the envelopes now (Redis is away).

        It owns nothing from now on, since it cannot handle its partitions' envelopes: its
        leases expire, for another replica to take. Once it hears again, it takes partitions
        as a new replica does.
        """
        if self.owned:
            logger.warning("! not receiving envelopes: giving up partitions %s", sorted(self.owned))
        self.owned.clear()

    async def _register(self, now: float, since: float) -> tuple[bool, int]:
        """Say that this replica is alive and has listened since ``since``; return whether
        it is the one that has listened the longest of the live replicas, and how many
        replicas share the partitions: those that have listened for ``maturity``, and that
        one."""
        found = await self._registration(
            keys=[self.replicas_key, self.since_key],
            args=[self.replica, now, now + self.lease, since],
        )
        replicas = [_text(replica) for replica in found[::2]]
        listening = [float(started) for started in found[1::2]]
        mature = {
            replica
            for replica, started in zip(replicas, listening, strict=True)
            if now - started >= self.maturity
        }
        return replicas[0] == self.replica, len(mature | {replicas[0]})

    async def _take_over(self, partition: int, handle: Handle) -> None:
        """Handle the kept envelopes its last owner did not, then own the partition."""
        kept = self._kept[partition]
        handled = 0
        while kept:
            when, envelope = kept.popleft()
            if when < time.monotonic() - self.window:
                continue  # Too old to be sure of: its done key may have expired.
            done = await self.redis.get(self.done_key(envelope.conn))
            if done is not None and int(done) >= envelope.seq:
                continue
            await handle(envelope)
            handled += 1
        # No await since the loop saw the deque empty: nothing was kept in between.
        self.owned.add(partition)
        logger.info("= took partition %d over, handling %d kept envelopes", partition, handled)

    @property
    def _lease_ms(self) -> int:
        return max(1, round(self.lease * 1000))
