"""Tests of bus.inbox: a service's stream, appended to by gateways and read by its replicas,
against a real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from bus import (
    APPEND,
    Appended,
    Entry,
    StreamReader,
    format_id,
    parse_id,
    service_replicas,
    service_stream,
)
from bus.tasks import cancel_and_wait
from tests.waiting import HANG, until

STREAM = service_stream("demo")


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


def test_stream_ids_read_and_write_as_redis_spells_them() -> None:
    assert parse_id(b"1732492800101-3") == (1732492800101, 3)
    assert format_id((1732492800101, 3)) == "1732492800101-3"
    assert parse_id("5-0") < parse_id("5-1") < parse_id("10-0")


async def test_an_envelope_is_appended_only_while_a_replica_is_live_and_there_is_room(
    client: redis.Redis,
) -> None:
    append = client.register_script(APPEND)
    keys = [STREAM, service_replicas("demo")]

    async def appended(limit: int) -> Appended:
        return Appended(await append(keys=keys, args=["gw.1", b"{}", limit]))

    assert await appended(10) is Appended.NO_REPLICA
    await client.zadd(service_replicas("demo"), {"expired": time.time() - 1})
    assert await appended(10) is Appended.NO_REPLICA
    await client.zadd(service_replicas("demo"), {"live": time.time() + HANG})
    assert await appended(2) is Appended.APPENDED
    assert await appended(2) is Appended.APPENDED
    assert await appended(2) is Appended.FULL
    [(_, fields)] = await client.xrange(STREAM, count=1)
    assert fields == {b"conn": b"gw.1", b"envelope": b"{}"}


async def test_a_reader_starts_after_the_last_entry_and_reads_on_after_a_cut(
    client: redis.Redis,
) -> None:
    await client.xadd(STREAM, {"n": "before"})
    read: list[Entry] = []

    async def handler(batch: list[Entry]) -> None:
        read.extend(batch)

    reader = StreamReader(client, STREAM, handler, block=0.05, max_backoff=0.05)
    task = asyncio.create_task(reader.run())
    await until(reader.connected.is_set, "the reader to connect")
    for n in range(50):
        await client.xadd(STREAM, {"n": str(n)})
        if n % 10 == 0:  # As when Redis drops the reader past its output-buffer limit.
            await client.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    await until(lambda: len(read) >= 50, "50 entries read")
    await cancel_and_wait({task})
    assert [fields[b"n"] for _, fields in read] == [str(n).encode() for n in range(50)]
    assert reader.position == read[-1][0]
