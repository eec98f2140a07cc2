"""Fixtures shared by the gateway tests; Redis itself comes from tests/conftest.py."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.Redis]:
    """A Redis client of the session's Redis, for the test's own publishing and checks."""
    client = redis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def unreachable_redis_url() -> str:
    """A Redis URL on a loopback port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"
