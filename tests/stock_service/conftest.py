from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from servicekit import Service
from stock_service import Market, StockHandlers, StockSettings
from tests.servicekit.fake_gateway import FakeGateway, running

SEED = 7
TICK_RATE = 500.0  # Quick, so that tests see quotes at once.


@pytest.fixture
def handlers() -> StockHandlers:
    return StockHandlers(Market(seed=SEED, tick_rate=TICK_RATE))


@pytest.fixture
async def stocks(redis_url: str, tmp_path: Path, handlers: StockHandlers) -> AsyncIterator[Service]:
    """The stock service, running."""
    settings = StockSettings(redis_url=redis_url, health_file=str(tmp_path / "healthy"))
    service = Service("stocks", handlers, settings)
    async with running(service):
        yield service


@pytest.fixture
async def gateway(redis_url: str) -> AsyncIterator[FakeGateway]:
    async with FakeGateway(redis_url, "stocks") as gateway:
        yield gateway
