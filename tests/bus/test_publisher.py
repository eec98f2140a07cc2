"""Tests of bus.publisher: batched publishing through a fixed number of connections, against
a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis
from redis.exceptions import RedisError

from bus import Overloaded, Publisher
from tests.waiting import within


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def received(pubsub: redis.client.PubSub, count: int) -> list[bytes]:
    messages: list[bytes] = []

    async def read() -> None:
        while len(messages) < count:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                messages.append(message["data"])

    await within(read(), f"{count} messages on the channel")
    return messages


async def test_a_burst_far_past_the_pool_cap_is_published_in_order_without_errors(
    client: redis.Redis,
) -> None:
    # redis-py's asyncio pool refuses a 101st connection; 5,000 publishes at once would fail.
    pubsub = client.pubsub()
    await pubsub.subscribe("burst")
    publisher = Publisher(client, max_batch=500)
    futures = [publisher.publish("burst", f"{n}") for n in range(5_000)]
    assert await within(asyncio.gather(*futures), "the burst to be published") == [1] * 5_000
    assert await received(pubsub, 5_000) == [f"{n}".encode() for n in range(5_000)]
    await pubsub.aclose()
    await publisher.aclose()


async def test_what_is_asked_in_one_turn_goes_in_one_pipeline(client: redis.Redis) -> None:
    publisher = Publisher(client)
    futures = [publisher.publish("nobody", "x") for _ in range(10)]
    assert publisher.waiting == 10
    await asyncio.sleep(0)  # The batch leaves at the end of the turn.
    assert publisher.waiting == 0
    assert await asyncio.gather(*futures) == [0] * 10
    await publisher.aclose()


async def test_one_pipeline_at_a_time_goes_to_redis(client: redis.Redis) -> None:
    publisher = Publisher(client, max_batch=2)
    futures = [publisher.publish("nobody", "x") for _ in range(10)]
    await asyncio.sleep(0)
    assert publisher.waiting == 8
    await asyncio.gather(*futures)
    assert publisher.waiting == 0
    await publisher.aclose()


async def test_an_unreachable_redis_fails_every_message_of_the_batch(
    unreachable_redis_url: str,
) -> None:
    client = redis.Redis.from_url(unreachable_redis_url)
    publisher = Publisher(client)
    futures = [publisher.publish("nowhere", "x") for _ in range(3)]
    for future in futures:
        with pytest.raises(RedisError):
            await within(future, "the publish to fail")
    await publisher.aclose()
    await client.aclose()


async def test_closing_fails_what_waits(client: redis.Redis) -> None:
    publisher = Publisher(client, max_batch=1)
    futures = [publisher.publish("nobody", "x") for _ in range(3)]
    await publisher.aclose()
    for future in futures:
        with pytest.raises(RedisError):
            await future


async def test_past_max_waiting_a_publish_fails_at_once_as_overloaded(
    client: redis.Redis,
) -> None:
    publisher = Publisher(client, max_waiting=3)
    futures = [publisher.publish("nobody", "x") for _ in range(5)]
    for future in futures[3:]:
        assert future.done()
        with pytest.raises(Overloaded):
            future.result()
    assert await asyncio.gather(*futures[:3]) == [0, 0, 0]
    await publisher.aclose()


async def test_commands_and_scripts_go_in_the_batch_in_order_with_the_publishes(
    client: redis.Redis,
) -> None:
    publisher = Publisher(client)
    script = client.register_script("return redis.call('INCR', KEYS[1]) * tonumber(ARGV[1])")
    results = await within(
        asyncio.gather(
            publisher.command("SET", "counter", 1),
            publisher.run(script, ["counter"], [10]),
            publisher.publish("nobody", "x"),
            publisher.command("GET", "counter"),
        ),
        "the batch",
    )
    assert results == [True, 20, 0, b"2"]
    await publisher.aclose()


async def test_a_script_redis_forgot_is_loaded_again_and_run_once(client: redis.Redis) -> None:
    # As after a restart of Redis: the script cache is empty, and EVALSHA fails.
    publisher = Publisher(client)
    script = client.register_script("return redis.call('INCR', KEYS[1])")
    assert await within(publisher.run(script, ["runs"], []), "the first run") == 1
    await client.script_flush()
    assert await within(publisher.run(script, ["runs"], []), "the run after the flush") == 2
    await publisher.aclose()
