from __future__ import annotations

import pytest

from servicekit import load_settings
from stock_service import StockSettings


def test_the_simulation_defaults_to_seed_2010_and_20_ticks_per_second() -> None:
    settings = load_settings(StockSettings, [], environ={})
    assert (settings.seed, settings.tick_rate) == (2010, 20.0)


def test_the_simulation_is_set_by_wslab_seed_and_wslab_tick_rate() -> None:
    environ = {"WSLAB_SEED": "7", "WSLAB_TICK_RATE": "2.5", "REDIS_URL": "redis://redis/0"}
    settings = load_settings(StockSettings, [], environ=environ)
    assert (settings.seed, settings.tick_rate, settings.redis_url) == (7, 2.5, "redis://redis/0")


@pytest.mark.parametrize("rate", ["0", "-5"])
def test_the_tick_rate_must_be_positive(rate: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc_info:
        load_settings(StockSettings, [], environ={"WSLAB_TICK_RATE": rate})
    assert exc_info.value.code == 2
    assert "tick rate must be positive" in capsys.readouterr().err
