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

Replicas share the partitions evenly: each one registers in ``wslab:svc:<service>:replicas``
and owns at most ``ceil(count / replicas)``. A new replica registers only after one lease
of listening, so that what its partitions' owners leave unhandled when they hand them over
is among the envelopes it kept. See docs/ARCHITECTURE.md, "Service replicas".
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

__all__ = ["DONE_TTL", "Partitions"]

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

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
"""
"""Deletes a lease if ARGV[1] holds it. KEYS: the lease."""

Handle: TypeAlias = Callable[[bus.Envelope], Awaitable[None]]


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
        self.replica = replica or f"{socket.gethostname()}-{secrets.token_hex(3)}"
        self.owned: set[int] = set()
        self._prefix = bus.service_channel(service)
        self._kept: dict[int, collections.deque[tuple[float, bus.Envelope]]] = {
            partition: collections.deque(maxlen=limit) for partition in range(count)
        }
        self._renew: AsyncScript = client.register_script(RENEW)
        self._release: AsyncScript = client.register_script(RELEASE)
        self._started = time.monotonic()

    def of(self, conn: str) -> int:
        """Return the partition of a connection."""
        return zlib.crc32(conn.encode()) % self.count

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

    async def balance(self, lock: asyncio.Lock, handle: Handle) -> None:
        """Renew this replica's leases, hand over its extra partitions, take free ones.

        Call it every third of ``lease``. Handing over and taking over happen under
        ``lock``, the lock the caller holds while it handles an envelope: a partition is
        never handed over in the middle of one. ``handle`` runs each kept envelope of a
        taken partition that its last owner did not handle.
        """
        target = math.ceil(self.count / await self._replicas())
        for partition in sorted(self.owned):
            if not await self._renew(
                keys=[self.lease_key(partition)], args=[self.replica, self._lease_ms]
            ):
                self.owned.discard(partition)
                logger.warning("! lost partition %d to another replica", partition)
        extra = sorted(self.owned, reverse=True)[: max(0, len(self.owned) - target)]
        others = [partition for partition in range(self.count) if partition not in self.owned]
        holders = await self.redis.mget([self.lease_key(partition) for partition in others])
        free = [partition for partition, holder in zip(others, holders, strict=True) if not holder]
        free = free[: max(0, target - len(self.owned))]
        if not extra and not free:
            return
        async with lock:
            for partition in extra:
                await self.release(partition)
            for partition in free:
                if await self.redis.set(
                    self.lease_key(partition), self.replica, px=self._lease_ms, nx=True
                ):
                    await self._take_over(partition, handle)

    async def release(self, partition: int | None = None) -> None:
        """Hand over one partition, or all of them and this replica's registration."""
        partitions = set(self.owned) if partition is None else {partition}
        for released in sorted(partitions):
            self.owned.discard(released)
            await self._release(keys=[self.lease_key(released)], args=[self.replica])
        if partition is None:
            await self.redis.zrem(self.replicas_key, self.replica)
        if partitions:
            logger.info("= released partitions %s", sorted(partitions))

    async def _replicas(self) -> int:
        """Register this replica once it listened one lease; return how many are live."""
        now = time.time()
        if time.monotonic() - self._started >= self.lease:
            await self.redis.zadd(self.replicas_key, {self.replica: now + self.lease})
        await self.redis.zremrangebyscore(self.replicas_key, "-inf", now)
        others = [
            replica
            for replica in await self.redis.zrange(self.replicas_key, 0, -1)
            if replica not in (self.replica, self.replica.encode())
        ]
        return len(others) + 1

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
