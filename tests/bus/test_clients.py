"""Tests of bus.clients: the Redis client every program uses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import TimeoutError as RedisTimeoutError

from bus.clients import redis_client
from tests.waiting import within


@pytest.fixture
async def silent_redis() -> AsyncIterator[int]:
    """A port where something accepts connections and never answers, as a Redis gone
    without a word looks to a connection already open."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in held:
            writer.close()


async def test_a_command_to_a_redis_that_never_answers_fails_instead_of_waiting_forever(
    silent_redis: int,
) -> None:
    client = redis_client(
        f"redis://127.0.0.1:{silent_redis}/0", name="wslab-test", max_connections=2,
        socket_timeout=0.2,
    )  # fmt: skip
    try:
        with pytest.raises(RedisTimeoutError):
            await within(client.get("key"), "the command to time out")
    finally:
        await client.aclose()
