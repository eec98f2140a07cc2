"""Fixtures shared by the gateway tests; Redis itself comes from tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.Redis]:
    """A Redis client of the session's Redis, for the test's own publishing and checks."""
    client = redis.Redis.from_url(redis_url)
    yield client
    await client.aclose()
