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
from servicekit.replicas import Partitions
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
        redis_url=redis_url, health_file=str(tmp_path / name), partitions=8, lease=LEASE
    )


class Replicas:
    """Starts replicas of one service, and stops them gracefully or as if killed.

    The replicas balance every ROUND: time plays no part, the test decides when leases expire.
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
        """Stop a replica without a word: its leases stay until :meth:`expire`, and it does
        not record what it handled since its last batch."""
        service, task = self.tasks.pop(name)

        async def keep_leases(partition: int | None = None) -> None:
            pass

        service.partitions.release = keep_leases  # type: ignore[method-assign]
        service.partitions.handled = lambda through: None  # type: ignore[method-assign]
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self.killed[name] = service.partitions

    async def expire(self, name: str) -> None:
        """Expire a killed replica's leases and registration, as Redis would a lease later."""
        partitions = self.killed.pop(name)
        async with Redis.from_url(self.redis_url) as client:
            for partition in range(partitions.count):
                key = partitions.lease_key(partition)
                if await client.get(key) == partitions.replica.encode():
                    await client.delete(key)
            await client.zrem(partitions.replicas_key, partitions.replica)

    async def stop_all(self) -> None:
        for name in list(self.tasks):
            await self.stop(name)


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


async def recorded(client: Redis) -> None:
    """Wait until every partition is recorded as handled through the stream's last entry:
    the owners record once a period, and a replica killed before it leaves its last
    envelopes to be handled again."""
    [(last, _)] = await client.xrevrange(bus.service_stream("demo"), count=1)

    async def through_last() -> bool:
        done = await client.hvals(bus.service_key("demo", "done"))
        return len(done) == 8 and min(map(bus.parse_id, done)) >= bus.parse_id(last)

    await until(through_last, "the owners to record what they handled")


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
    await recorded(gateway.redis)

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


async def test_a_newcomer_takes_a_dead_replica_over_with_what_came_while_nobody_listened(
    replicas: Replicas, gateway: FakeGateway
) -> None:
    await replicas.started("first", owning=8)
    for n in range(CONNECTIONS):
        await gateway.open(gateway.conn(n))
    await handled(replicas, CONNECTIONS)
    await recorded(gateway.redis)

    await replicas.kill("first")
    for n in range(CONNECTIONS):  # No replica runs: the stream keeps them.
        await gateway.message(gateway.conn(n), "while down")
    await replicas.started("second", owning=0)
    await replicas.expire("first")
    await until(lambda: len(replicas.handled) >= 2 * CONNECTIONS, "the newcomer to catch up")
    for n in range(CONNECTIONS):
        await gateway.close(gateway.conn(n))
    await handled(replicas, CONNECTIONS * 3)
    await replicas.stop_all()

    assert by_connection(replicas.handled) == {
        gateway.conn(n): [0, 1, 2] for n in range(CONNECTIONS)
    }
    assert {name for name, _, seq in replicas.handled if seq > 0} == {"second"}


async def test_what_a_killed_replica_handled_but_did_not_record_is_handled_again_not_lost(
    replicas: Replicas, gateway: FakeGateway
) -> None:
    await replicas.started("first", owning=8)
    recorded_nothing_from_now(replicas, "first")
    for n in range(CONNECTIONS):
        await gateway.open(gateway.conn(n))
    await handled(replicas, CONNECTIONS)
    await replicas.kill("first")
    await replicas.expire("first")
    await replicas.started("second", owning=8)
    await handled(replicas, 2 * CONNECTIONS)
    await replicas.stop_all()

    assert by_connection(replicas.handled) == {gateway.conn(n): [0, 0] for n in range(CONNECTIONS)}


def recorded_nothing_from_now(replicas: Replicas, name: str) -> None:
    """Make a replica record nothing more, as if it were killed before its next record."""
    service, _ = replicas.tasks[name]
    service.partitions.handled = lambda through: None  # type: ignore[method-assign]


async def test_a_replica_whose_redis_connections_are_killed_mid_stream_loses_nothing(
    replicas: Replicas, gateway: FakeGateway
) -> None:
    # As when Redis drops a client past its output-buffer limit, or a network cut.
    first = await replicas.started("first", owning=8)
    for n in range(CONNECTIONS):
        await gateway.open(gateway.conn(n))
    for round in range(10):
        for n in range(CONNECTIONS):
            await gateway.message(gateway.conn(n), f"line {round}")
        await gateway.redis.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    await handled(replicas, CONNECTIONS * 11)
    assert len(first.partitions.owned) == 8
    await replicas.stop_all()

    assert by_connection(replicas.handled) == {
        gateway.conn(n): list(range(11)) for n in range(CONNECTIONS)
    }


async def test_an_envelope_appended_twice_is_handled_once(
    replicas: Replicas, gateway: FakeGateway
) -> None:
    # As when the gateway's pipeline is sent again after its connection broke: Redis may
    # have appended it before the answer was lost.
    await replicas.started("first", owning=8)
    conn = gateway.conn(1)
    sent: list[tuple[Literal["open", "message", "close"], int]] = [
        ("open", 0),
        ("message", 1),
        ("message", 1),  # Twice.
        ("close", 2),
    ]
    for kind, seq in sent:
        envelope = bus.Envelope(
            kind=kind,
            conn=conn,
            seq=seq,
            gateway=gateway.id,
            path="/",
            payload="once" if kind == "message" else None,
            received_at=0,
            published_at=0,
        )
        await gateway.append_raw(conn, envelope.encode())
    await handled(replicas, 3)
    await replicas.stop_all()

    assert by_connection(replicas.handled) == {conn: [0, 1, 2]}


async def test_a_stopping_replica_hands_its_partitions_over_without_waiting_for_its_lease(
    replicas: Replicas, gateway: FakeGateway
) -> None:
    await replicas.started("first", owning=8)
    await replicas.stop("first")
    await replicas.started("second", owning=8)
    await gateway.open(gateway.conn(1))
    await handled(replicas, 1)
    assert replicas.handled == [("second", gateway.conn(1), 0)]


async def test_what_every_partitions_owner_handled_is_trimmed_from_the_stream(
    replicas: Replicas, gateway: FakeGateway
) -> None:
    await replicas.started("first", owning=8)
    for n in range(300):
        await gateway.open(gateway.conn(n))
    await handled(replicas, 300)

    async def trimmed() -> bool:
        return bool(await gateway.redis.xlen(bus.service_stream("demo")) < 300)

    await until(trimmed, "the handled entries to be trimmed")


# Partitions on their own.


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    async with Redis.from_url(redis_url) as client:
        yield client


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def named(client: Redis, *names: str, clock: Clock | None = None) -> list[Partitions]:
    """Replicas by name, balanced by the test itself."""
    return [
        Partitions(
            client,
            "demo",
            count=8,
            lease=10.0,
            publisher=bus.Publisher(client),
            replica=name,
            clock=clock or Clock(),
        )
        for name in names
    ]


async def up_to_date(partition: int, through: bus.StreamId) -> bus.StreamId:
    return through


async def test_a_replica_whose_leases_were_not_renewed_in_time_stops_handling_at_once(
    client: Redis,
) -> None:
    clock = Clock()
    [replica] = named(client, "only", clock=clock)
    await replica.renew()
    await replica.balance(up_to_date)
    assert replica.handles(3, (1, 0))
    clock.now = 9.9
    assert replica.handles(3, (1, 0))
    clock.now = 10.0  # Its leases may have expired in Redis, and been taken.
    assert not replica.handles(3, (1, 0))
    assert replica.owned == {}


async def test_a_registration_is_live_for_a_lease_from_when_redis_records_it(
    client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As after a Redis restart: redis-py retried the call for seconds, so a time the
    # replica read before calling is long past when Redis records it. Its clock says so.
    monkeypatch.setattr(time, "time", lambda: 1_000_000.0)
    [replica] = named(client, "late")
    await replica.renew()
    append = client.register_script(bus.APPEND)
    keys = [bus.service_stream("demo"), bus.service_replicas("demo")]
    appended = await append(keys=keys, args=["gw-1.1", b"{}", 100])
    assert appended == bus.Appended.APPENDED, "the gateway found no live replica"


async def test_a_replica_whose_renewals_are_late_takes_no_partition_it_would_give_up(
    client: Redis,
) -> None:
    clock = Clock()
    [replica] = named(client, "late", clock=clock)
    await replica.renew()
    clock.now = 10.0  # The next renewal fails, or comes after its leases may have expired.
    await replica.balance(up_to_date)
    assert replica.owned == {}
    assert await client.mget([replica.lease_key(p) for p in range(8)]) == [None] * 8


async def test_partitions_given_up_for_a_late_renewal_are_taken_back_while_their_leases_name_it(
    client: Redis,
) -> None:
    clock = Clock()
    [replica] = named(client, "late", clock=clock)
    await replica.renew()
    await replica.balance(up_to_date)
    clock.now = 10.0  # A renewal came late: it gives up what it owned, though still named.
    assert not replica.handles(3, (1, 0))
    await replica.renew()
    await replica.balance(up_to_date)
    assert replica.owned.keys() == set(range(8))
    assert replica.handles(3, (1, 0))


async def test_a_partition_taken_over_is_caught_up_from_where_its_last_owner_stopped(
    client: Redis,
) -> None:
    [replica] = named(client, "taker")
    await client.hset(bus.service_key("demo", "done"), "3", "5-1")
    caught_up: dict[int, bus.StreamId] = {}

    async def catch_up(partition: int, through: bus.StreamId) -> bus.StreamId:
        caught_up[partition] = through
        return (7, 0)  # Where the replica has read.

    await replica.renew()
    await replica.balance(catch_up)
    assert caught_up == {p: (5, 1) if p == 3 else (0, 0) for p in range(8)}
    assert replica.owned == dict.fromkeys(range(8), (7, 0))
    assert not replica.handles(3, (7, 0))
    assert replica.handles(3, (7, 1))


async def test_an_owner_releases_its_extra_partitions_with_where_it_handled_them_through(
    client: Redis,
) -> None:
    first, second = named(client, "first", "second")
    await first.renew()
    await first.balance(up_to_date)
    first.handled((42, 0))
    await second.renew()
    await first.renew()  # Now it knows that two share the partitions.
    await first.balance(up_to_date)
    await second.balance(up_to_date)
    assert len(first.owned) == len(second.owned) == 4
    assert set(second.owned.values()) == {(42, 0)}
    await first.publisher.aclose()


def test_a_connection_always_falls_in_the_same_partition(client: Redis) -> None:
    [shares] = named(client, "any")
    found = {conn: shares.of(conn) for conn in (f"gw-{n}.{m}" for n in range(3) for m in range(50))}
    assert all(shares.of(conn) == partition for conn, partition in found.items())
    assert set(found.values()) == set(range(8))
