from __future__ import annotations

import pytest

from servicekit import load_settings
from stock_service import StockSettings


def test_the_feed_defaults_to_a_simulation_of_seed_2010_at_100_ticks_per_second() -> None:
    settings = load_settings(StockSettings, [], environ={})
    assert (settings.seed, settings.tick_rate, settings.replay) == (2010, 100.0, "")
    assert (settings.publish_interval, settings.max_batch, settings.replay_speed) == (
        0.01,
        10_000,
        1.0,
    )


def test_the_feed_is_set_by_environment_variables() -> None:
    environ = {
        "WSLAB_SEED": "7",
        "WSLAB_TICK_RATE": "5000",
        "WSLAB_PUBLISH_INTERVAL": "0.05",
        "WSLAB_MAX_BATCH": "500",
        "WSLAB_REPLAY": "/data/quotes.csv",
        "WSLAB_REPLAY_SPEED": "2.5",
        "REDIS_URL": "redis://redis/0",
    }
    settings = load_settings(StockSettings, [], environ=environ)
    assert settings == StockSettings(
        seed=7,
        tick_rate=5000.0,
        publish_interval=0.05,
        max_batch=500,
        replay="/data/quotes.csv",
        replay_speed=2.5,
        redis_url="redis://redis/0",
    )


@pytest.mark.parametrize(
    ("env", "value", "error"),
    [
        ("WSLAB_TICK_RATE", "0", "tick rate must be positive"),
        ("WSLAB_TICK_RATE", "-5", "tick rate must be positive"),
        ("WSLAB_PUBLISH_INTERVAL", "0", "publish interval must be more than 0 and at most 1"),
        ("WSLAB_PUBLISH_INTERVAL", "1.5", "publish interval must be more than 0 and at most 1"),
        ("WSLAB_MAX_BATCH", "0", "max batch must be at least 1"),
        ("WSLAB_REPLAY_SPEED", "0.5", "replay speed must be at least 1"),
    ],
)
def test_invalid_feed_settings_are_refused(
    env: str, value: str, error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc_info:
        load_settings(StockSettings, [], environ={env: value})
    assert exc_info.value.code == 2
    assert error in capsys.readouterr().err
