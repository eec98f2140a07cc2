"""Tests of servicekit.settings: what every service reads (the mechanism is tests/bus's)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from servicekit import ServiceSettings, load_settings, setting


@dataclass(frozen=True, kw_only=True)
class DemoSettings(ServiceSettings):
    seed: int = setting("DEMO_SEED", 7, "the seed")
    rate: float = setting("DEMO_RATE", 2.5, "the rate")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.rate <= 0:
            raise ValueError("rate must be positive")


def test_settings_default_to_their_documented_values() -> None:
    settings = load_settings(ServiceSettings, [], environ={})
    assert settings == ServiceSettings()
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.health_file == "/tmp/wslab-healthy"
    assert settings.heartbeat_interval == 3.0
    assert settings.log_level == "INFO"


def test_a_service_adds_its_settings_to_the_common_ones() -> None:
    environ = {"REDIS_URL": "redis://redis:6379/1", "DEMO_SEED": "42", "DEMO_RATE": "0.5"}
    argv = ["--log-level", "DEBUG"]
    settings = load_settings(DemoSettings, argv, environ=environ)
    assert settings == DemoSettings(
        redis_url="redis://redis:6379/1", log_level="DEBUG", seed=42, rate=0.5
    )


def test_a_service_validates_its_settings_after_the_common_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc_info:
        load_settings(DemoSettings, ["--rate", "0"], environ={})
    assert exc_info.value.code == 2
    assert "rate must be positive" in capsys.readouterr().err


def test_an_unknown_log_level_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        load_settings(ServiceSettings, [], environ={"WSLAB_LOG_LEVEL": "LOUD"})
    assert "log level must be one of DEBUG, INFO, WARNING, ERROR" in capsys.readouterr().err


def test_the_heartbeat_interval_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        load_settings(ServiceSettings, [], environ={"WSLAB_HEARTBEAT_INTERVAL": "0"})
    assert "heartbeat interval must be positive" in capsys.readouterr().err


def test_help_lists_each_setting_with_its_variable_and_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc_info:
        load_settings(DemoSettings, ["--help"], prog="demo", description="A demo.", environ={})
    assert exc_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert out.startswith("usage: demo")
    assert "(env REDIS_URL, default redis://localhost:6379/0)" in out
    assert "(env WSLAB_HEALTH_FILE, default /tmp/wslab-healthy)" in out
    assert "(env WSLAB_HEARTBEAT_INTERVAL, default 3.0)" in out
    assert "(env WSLAB_LOG_LEVEL, default INFO)" in out
    assert "--seed DEMO_SEED the seed (env DEMO_SEED, default 7)" in out


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"WSLAB_PARTITIONS": "0"}, "partitions must be at least 1"),
        ({"WSLAB_LEASE": "0"}, "lease must be positive"),
        ({"WSLAB_BATCH": "0"}, "batch must be at least 1"),
    ],
)
def test_the_replica_settings_are_checked(
    environ: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        load_settings(ServiceSettings, [], environ=environ)
    assert message in capsys.readouterr().err
