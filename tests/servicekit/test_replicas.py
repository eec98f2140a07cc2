"""Several replicas of a service on one real Redis: each envelope handled once, in order."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import pytest
from redis.asyncio import Redis

import bus
from servicekit import Context, Handlers, Service, ServiceSettings
from servicekit.replicas import DONE_TTL, Partitions
from tests.servicekit.fake_gateway import FakeGateway
from tests.waiting import HANG, until, within

CONNECTIONS = 24
#: (replica, connection, envelope seq), in the order the replicas handled them.
Handled = list[tuple[str, str, int]]


class Recorder(Handlers):
    """Records each envelope it handles in a list shared by the replicas."""

    def __init__(self, name: str, handled: Handled) -> None:
        self.name = name
        self.handled = handled

    async def _record(self, ctx: Context) -> None:
        self.handled.append((self.name, ctx.conn.id, ctx.envelope.seq))

    async def on_open(self, ctx: Context) -> None:
        await self._record(ctx)

    async def on_message(self, ctx: Context, text: str) -> None:
        await self._record(ctx)

    async def on_close(self, ctx: Context) -> None:
        await self._record(ctx)


#: Leases no test outlives, so that none expires behind a test's back, however slow the
#: machine: a test that needs a replica's leases to expire expires them (Replicas.expire).
LEASE = HANG
#: Seconds between two balancing rounds of a replica, much shorter than a lease.
ROUND = 0.02


def replica_settings(redis_url: str, tmp_path: Path, name: str) -> ServiceSettings:
    return ServiceSettings(
        redis_url=redis_url,
        health_file=str(tmp_path / name),
        partitions=8,
        lease=LEASE,
        standby_window=2 * LEASE,
    )


class Replicas:
    """Starts replicas of one service, and stops them gracefully or as if killed.

    The replicas balance every ROUND and share the partitions as soon as they listen, rather
    than after two leases: time plays no part, the test decides when leases expire.
    """

    def __init__(self, redis_url: str, tmp_path: Path) -> None:
        self.redis_url = redis_url
        self.tmp_path = tmp_path
        self.handled: Handled = []
        self.tasks: dict[str, tuple[Service, asyncio.Task[None]]] = {}
        self.killed: dict[str, Partitions] = {}

    def start(self, name: str) -> Service:
        settings = replica_settings(self.redis_url, self.tmp_path, name)
        service = Service("demo", Recorder(name, self.handled), settings)
        service.partitions.period = ROUND
        service.partitions.maturity = 0
        self.tasks[name] = (service, asyncio.create_task(service.run()))
        return service

    async def started(self, name: str, owning: int) -> Service:
        """Start a replica and wait until it owns ``owning`` partitions."""
        service = self.start(name)
        await until(
            lambda: len(service.partitions.owned) == owning, f"{name} to own {owning} partitions"
        )
        return service

    async def stop(self, name: str) -> None:
        service, task = self.tasks.pop(name)
        service.stop()
        await within(task, f"{name} to stop")

    async def kill(self, name: str) -> None:
        """Stop a replica without a word: its leases stay until :meth:`expire`."""
        service, task = self.tasks.pop(name)

        async def keep_leases(partition: int | None = None) -> None:
            pass

        service.partitions.release = keep_leases  # type: ignore[method-assign]
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self.killed[name] = service.partitions

    async def expire(self, name: str) -> None:
        """Expire a killed replica's leases and registration, as Redis would a lease later."""
        partitions = self.killed.pop(name)
        async with Redis.from_url(self.redis_url) as client:
            await expire_leases(client, partitions)
            await client.zrem(partitions.replicas_key, partitions.replica)
            await client.zrem(partitions.since_key, partitions.replica)

    async def stop_all(self) -> None:
        for name in list(self.tasks):
            await self.stop(name)


async def expire_leases(client: Redis, partitions: Partitions) -> None:
    """Delete the leases a replica holds, as if it had not renewed them for a lease."""
    for partition in range(partitions.count):
        key = partitions.lease_key(partition)
        if await client.get(key) == partitions.replica.encode():
            await client.delete(key)


@pytest.fixture
async def replicas(redis_url: str, tmp_path: Path) -> AsyncIterator[Replicas]:
    replicas = Replicas(redis_url, tmp_path)
    try:
        yield replicas
    finally:
        await replicas.stop_all()


@pytest.fixture
async def gateway(redis_url: str) -> AsyncIterator[FakeGateway]:
    async with FakeGateway(redis_url, "demo") as gateway:
        yield gateway


async def handled(replicas: Replicas, count: int) -> None:
    """Wait until the replicas handled ``count`` envelopes in all."""
    await until(lambda: len(replicas.handled) >= count, f"{count} envelopes handled")


def by_connection(handled: Handled) -> dict[str, list[int]]:
    seqs: dict[str, list[int]] = {}
    for _, conn, seq in handled:
        seqs.setdefault(conn, []).append(seq)
    return seqs


async def test_two_replicas_share_the_connections_and_handle_each_envelope_once_in_order(
    replicas: Replicas, gateway: FakeGateway
) -> None:
    first = await replicas.started("first", owning=8)
    second = replicas.start("second")
    await until(
        lambda: len(first.partitions.owned) == len(second.partitions.owned) == 4,
        "first and second to own 4 partitions each",
    )

    for n in range(CONNECTIONS):
        await gateway.open(gateway.conn(n))
        for text in ("one", "two", "three"):
            await gateway.message(gateway.conn(n), text)
        await gateway.close(gateway.conn(n))
    await handled(replicas, CONNECTIONS * 5)
    await replicas.stop_all()

    assert by_connection(replicas.handled) == {
        gateway.conn(n): [0, 1, 2, 3, 4] for n in range(CONNECTIONS)
    }
    handlers = {
        conn: {name for name, c, _ in replicas.handled if c == conn}
        for conn in by_connection(replicas.handled)
    }
    assert all(len(names) == 1 for names in handlers.values())
    assert {name for name, _, _ in replicas.handled} == {"first", "second"}


async def test_a_killed_replicas_connections_are_taken_over_with_nothing_lost_or_repeated(
    replicas: Replicas, gateway: FakeGateway
) -> None:
    await replicas.started("first", owning=8)
    await replicas.started("second", owning=4)
    for n in range(CONNECTIONS):
        await gateway.open(gateway.conn(n))
        await gateway.message(gateway.conn(n), "before")
    await handled(replicas, CONNECTIONS * 2)

    await replicas.kill("second")
    for n in range(CONNECTIONS):  # While its leases last, first keeps its envelopes.
        for text in ("after", "and after"):
            await gateway.message(gateway.conn(n), text)
        await gateway.close(gateway.conn(n))
    await replicas.expire("second")
    await handled(replicas, CONNECTIONS * 5)
    await replicas.stop_all()

    assert by_connection(replicas.handled) == {
        gateway.conn(n): [0, 1, 2, 3, 4] for n in range(CONNECTIONS)
    }
    taken_over = {conn for name, conn, seq in replicas.handled if name == "second"}
    assert taken_over
    assert {name for name, conn, seq in replicas.handled if conn in taken_over and seq > 1} == {
        "first"
    }


async def test_a_killed_replica_is_taken_over_by_one_that_kept_its_envelopes_not_a_newcomer(
    replicas: Replicas, gateway: FakeGateway
) -> None:
    await replicas.started("first", owning=8)
    await replicas.started("second", owning=4)
    for n in range(CONNECTIONS):
        await gateway.open(gateway.conn(n))
    await handled(replicas, CONNECTIONS)

    await replicas.kill("second")  # and it restarts at once, as a new replica:
    for n in range(CONNECTIONS):  # sent before the newcomer listens: only first has them.
        await gateway.message(gateway.conn(n), "while down")
    third = replicas.start("third")
    await until(third.subscriber.connected.is_set, "third to listen")
    await replicas.expire("second")
    for n in range(CONNECTIONS):
        await gateway.close(gateway.conn(n))
    await handled(replicas, CONNECTIONS * 3)
    await until(lambda: len(third.partitions.owned) > 0, "third to get its share")
    await replicas.stop_all()

    assert by_connection(replicas.handled) == {
        gateway.conn(n): [0, 1, 2] for n in range(CONNECTIONS)
    }


async def test_a_dead_owners_partitions_go_to_the_replica_that_listened_longest(
    replicas: Replicas, gateway: FakeGateway
) -> None:
    await replicas.started("first", owning=8)
    for n in range(CONNECTIONS):
        await gateway.open(gateway.conn(n))
    await handled(replicas, CONNECTIONS)
    second = replicas.start("second")
    await until(second.subscriber.connected.is_set, "second to listen")

    await replicas.kill("first")
    for n in range(CONNECTIONS):  # Only second hears these.
        await gateway.message(gateway.conn(n), "while down")
    third = replicas.start("third")
    await until(third.subscriber.connected.is_set, "third to listen")
    await replicas.expire("first")
    for n in range(CONNECTIONS):
        await gateway.close(gateway.conn(n))
    await handled(replicas, CONNECTIONS * 3)
    await replicas.stop_all()

    assert by_connection(replicas.handled) == {
        gateway.conn(n): [0, 1, 2] for n in range(CONNECTIONS)
    }
    assert {name for name, _, seq in replicas.handled if seq == 1} == {"second"}


async def test_a_replica_that_lost_the_bus_even_briefly_gives_its_partitions_up_and_starts_over(
    replicas: Replicas, gateway: FakeGateway, caplog: pytest.LogCaptureFixture
) -> None:
    first = await replicas.started("first", owning=8)
    await gateway.redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    await until(lambda: first.subscriber.connections == 2, "first to listen again")
    await until(lambda: not first.partitions.owned, "first to give its partitions up")
    await expire_leases(gateway.redis, first.partitions)  # Its old ones, in time.
    await until(lambda: len(first.partitions.owned) == 8, "first to take them again")
    await gateway.open(gateway.conn(1))
    await handled(replicas, 1)
    await replicas.stop_all()

    assert replicas.handled == [("first", gateway.conn(1), 0)]
    assert "not receiving envelopes: giving up partitions" in caplog.text


async def test_a_stopping_replica_hands_its_partitions_over_without_waiting_for_its_lease(
    replicas: Replicas, gateway: FakeGateway
) -> None:
    await replicas.started("first", owning=8)
    await replicas.stop("first")
    await replicas.started("second", owning=8)
    await gateway.open(gateway.conn(1))
    await handled(replicas, 1)
    assert replicas.handled == [("second", gateway.conn(1), 0)]


# Partitions on their own.


def envelope(conn: str, seq: int, kind: Literal["open", "message", "close"]) -> bus.Envelope:
    return bus.Envelope(
        kind=kind, conn=conn, seq=seq, gateway="gw", path="/", received_at=0, published_at=0
    )


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    async with Redis.from_url(redis_url) as client:
        yield client


def partitions(client: Redis, *, window: float = 10.0, limit: int = 100) -> Partitions:
    return Partitions(client, "demo", count=8, lease=1.0, window=window, limit=limit)


def named(client: Redis, *names: str) -> list[Partitions]:
    """Replicas by name, with leases no test outlives, balanced by the test itself."""
    return [
        Partitions(client, "demo", count=8, lease=HANG, window=HANG, limit=100, replica=name)
        for name in names
    ]


def all_leases(partitions: Partitions) -> list[str]:
    return [partitions.lease_key(partition) for partition in range(partitions.count)]


async def test_a_dead_owners_partitions_go_to_the_longest_listener_not_the_first_to_ask(
    client: Redis,
) -> None:
    # After Redis came back, "early" heard the envelopes a second before "late", but "late"
    # balanced first. Only "early" kept what was sent in that second: it must take over.
    early, late = named(client, "early", "late")
    leases = all_leases(early)
    await client.mset(dict.fromkeys(leases, "dead"))
    since = {early: time.time() - 1, late: time.time()}

    async def balance(*order: Partitions) -> None:
        for replica in order:
            await replica.balance(asyncio.Lock(), handle_nothing, since=since[replica])

    await balance(late, early)
    await client.delete(*leases)  # The dead owner's leases expire.
    await balance(late, early)
    assert (early.owned, late.owned) == (set(range(8)), set())


async def test_a_released_partition_goes_only_to_a_replica_that_listened_when_it_was_released(
    client: Redis,
) -> None:
    # Whatever came for the partition after its release is only with the replicas that were
    # listening then: one that started later would take it without those envelopes.
    senior, young = named(client, "senior", "young")
    leases = all_leases(young)
    await client.mset(dict.fromkeys(leases, "busy"))
    started = time.time()
    await senior.balance(asyncio.Lock(), handle_nothing, since=started - 100)

    async def balance_young(released: float) -> set[int]:
        await client.mset(dict.fromkeys(leases, f"@{released}"))
        await young.balance(asyncio.Lock(), handle_nothing, since=started)
        return set(young.owned)

    assert await balance_young(released=started - 1) == set()
    assert await balance_young(released=started) == set(range(8))


async def handle_nothing(envelope: bus.Envelope) -> None:
    raise AssertionError(f"nothing was kept, yet {envelope} was handled")


def test_a_connection_always_falls_in_the_same_partition(client: Redis) -> None:
    shares = partitions(client)
    found = {conn: shares.of(conn) for conn in (f"gw-{n}.{m}" for n in range(3) for m in range(50))}
    assert all(shares.of(conn) == partition for conn, partition in found.items())
    assert set(found.values()) == set(range(8))


def test_a_partition_keeps_at_most_its_limit_of_envelopes(client: Redis) -> None:
    shares = partitions(client, limit=3)
    for seq in range(5):
        shares.keep(envelope("gw.1", seq, "message"))
    assert shares.kept == 3


async def test_kept_envelopes_older_than_the_window_are_dropped(client: Redis) -> None:
    shares = partitions(client, window=0.05)
    shares.keep(envelope("gw.1", 1, "message"))
    await asyncio.sleep(0.1)
    shares.keep(envelope("gw.1", 2, "message"))
    assert shares.kept == 1


async def test_a_handled_envelope_is_recorded_a_day_and_a_close_for_twice_the_window(
    client: Redis,
) -> None:
    shares = partitions(client, window=10 * HANG)
    await shares.done(envelope("gw.1", 3, "message"))
    await shares.done(envelope("gw.2", 5, "close"))
    assert await client.get(shares.done_key("gw.1")) == b"3"
    assert DONE_TTL - HANG < await client.ttl(shares.done_key("gw.1")) <= DONE_TTL
    assert await client.get(shares.done_key("gw.2")) == b"5"
    assert 19 * HANG < await client.ttl(shares.done_key("gw.2")) <= 20 * HANG
