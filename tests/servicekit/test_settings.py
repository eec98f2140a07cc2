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
    assert settings.log_level == "INFO"


def test_environment_variables_override_the_defaults() -> None:
    environ = {"REDIS_URL": "redis://redis:6379/1", "DEMO_SEED": "42", "DEMO_RATE": "0.5"}
    settings = load_settings(DemoSettings, [], environ=environ)
    assert settings.redis_url == "redis://redis:6379/1"
    assert settings.seed == 42
    assert settings.rate == 0.5


def test_options_override_environment_variables() -> None:
    argv = ["--redis-url", "redis://other/0", "--seed", "3", "--log-level", "DEBUG"]
    settings = load_settings(DemoSettings, argv, environ={"REDIS_URL": "redis://redis/0"})
    assert settings.redis_url == "redis://other/0"
    assert settings.seed == 3
    assert settings.log_level == "DEBUG"


def test_a_bad_environment_value_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc_info:
        load_settings(DemoSettings, [], environ={"DEMO_SEED": "many"})
    assert exc_info.value.code == 2
    assert "invalid int value: 'many'" in capsys.readouterr().err


def test_a_value_the_settings_reject_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc_info:
        load_settings(DemoSettings, ["--rate", "0"], environ={})
    assert exc_info.value.code == 2
    assert "rate must be positive" in capsys.readouterr().err


def test_an_unknown_log_level_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        load_settings(ServiceSettings, [], environ={"WSLAB_LOG_LEVEL": "LOUD"})
    assert "log level must be one of DEBUG, INFO, WARNING, ERROR" in capsys.readouterr().err


def test_help_lists_each_setting_with_its_variable_and_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc_info:
        load_settings(DemoSettings, ["--help"], prog="demo", description="A demo.", environ={})
    assert exc_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert out.startswith("usage: demo")
    assert "A demo." in out
    assert "(env REDIS_URL, default redis://localhost:6379/0)" in out
    assert "(env WSLAB_HEALTH_FILE, default /tmp/wslab-healthy)" in out
    assert "--seed DEMO_SEED the seed (env DEMO_SEED, default 7)" in out
