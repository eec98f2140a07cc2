"""Fixtures shared by the gateway tests; Redis itself comes from tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from tests.gateway.endpoints import Seen, make_app
from tests.gateway.server import RunningServer, run_server


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.Redis]:
    """A Redis client of the session's Redis, for the test's own publishing and checks."""
    client = redis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def seen() -> Seen:
    """What the endpoints of the connection tests' app report (tests/gateway/endpoints.py)."""
    return Seen()


@pytest.fixture
async def server(seen: Seen) -> AsyncIterator[RunningServer]:
    """That app, with the default connection settings, in a real server."""
    async with run_server(make_app(seen)) as server:
        yield server
