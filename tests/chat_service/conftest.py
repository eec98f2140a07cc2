from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bus import gateway_alive_key as alive_key
from chat_service import ChatHandlers
from servicekit import Service, ServiceSettings
from tests.servicekit.fake_gateway import FakeGateway, running


@pytest.fixture
def handlers() -> ChatHandlers:
    return ChatHandlers()


@pytest.fixture
async def chat(redis_url: str, tmp_path: Path, handlers: ChatHandlers) -> AsyncIterator[Service]:
    """The chat service, running."""
    settings = ServiceSettings(redis_url=redis_url, health_file=str(tmp_path / "healthy"))
    service = Service("chat", handlers, settings)
    async with running(service):
        yield service


@pytest.fixture
async def gateway(redis_url: str) -> AsyncIterator[FakeGateway]:
    """A gateway listening to the lobby, with its alive key set."""
    async with FakeGateway(redis_url, "chat") as gateway:
        await gateway.redis.set(alive_key(gateway.id), 1)  # Never swept.
        await gateway.listen("chat.lobby")
        yield gateway
