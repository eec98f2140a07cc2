from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from servicekit import Service
from stock_service import StockHandlers, StockSettings, make_handlers
from tests.servicekit.fake_gateway import FakeGateway, running

SEED = 7
TICK_RATE = 1000.0  # Quick, so that tests see quotes of any symbol at once.


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> StockSettings:
    return StockSettings(
        redis_url=redis_url, health_file=str(tmp_path / "healthy"), seed=SEED, tick_rate=TICK_RATE
    )


@pytest.fixture
def handlers(settings: StockSettings) -> StockHandlers:
    return make_handlers(settings)


@pytest.fixture
async def stocks(settings: StockSettings, handlers: StockHandlers) -> AsyncIterator[Service]:
    """The stock service, running."""
    service = Service("stocks", handlers, settings)
    async with running(service):
        yield service


@pytest.fixture
async def gateway(redis_url: str) -> AsyncIterator[FakeGateway]:
    async with FakeGateway(redis_url, "stocks") as gateway:
        yield gateway
