"""Tests of bus.settings: settings from the command line, the environment and the defaults."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from bus.settings import load_settings, setting


@dataclass(frozen=True, kw_only=True)
class DemoSettings:
    """Any frozen dataclass will do: nothing ties the mechanism to a service."""

    name: str = setting("DEMO_NAME", "demo", "the name")
    seed: int = setting("DEMO_SEED", 7, "the seed")
    rate: float = setting("DEMO_RATE", 2.5, "the rate, at most 100%")
    tag: str = setting("DEMO_TAG", "", "the tag")
    internal: str = "not a setting"

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("DEMO_RATE must be positive")


def test_settings_default_to_their_documented_values() -> None:
    settings = load_settings(DemoSettings, [], environ={})
    assert settings == DemoSettings()
    assert (settings.name, settings.seed, settings.rate, settings.tag) == ("demo", 7, 2.5, "")


def test_environment_variables_override_the_defaults() -> None:
    environ = {"DEMO_NAME": "other", "DEMO_SEED": "42", "DEMO_RATE": "0.5", "UNRELATED": "x"}
    settings = load_settings(DemoSettings, [], environ=environ)
    assert settings == DemoSettings(name="other", seed=42, rate=0.5)


def test_options_override_environment_variables() -> None:
    argv = ["--name", "cli", "--seed", "3"]
    settings = load_settings(DemoSettings, argv, environ={"DEMO_NAME": "env", "DEMO_RATE": "4"})
    assert settings == DemoSettings(name="cli", seed=3, rate=4.0)


def test_a_setting_may_come_from_the_file_its_file_variable_names(tmp_path: Path) -> None:
    (tmp_path / "name").write_text("from-a-secret\n")
    (tmp_path / "seed").write_text("11")
    environ = {"DEMO_NAME_FILE": str(tmp_path / "name"), "DEMO_SEED_FILE": str(tmp_path / "seed")}
    settings = load_settings(DemoSettings, [], environ=environ)
    assert (settings.name, settings.seed) == ("from-a-secret", 11)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DEMO_NAME": "a", "DEMO_NAME_FILE": "/x"}, "set DEMO_NAME or DEMO_NAME_FILE, not both"),
        (
            {"DEMO_NAME_FILE": "/nonexistent/name"},
            "DEMO_NAME_FILE: cannot read /nonexistent/name: No such file or directory",
        ),
    ],
)
def test_a_file_variable_beside_its_variable_or_unreadable_is_a_usage_error(
    environ: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc_info:
        load_settings(DemoSettings, [], environ=environ)
    assert exc_info.value.code == 2
    assert capsys.readouterr().err.endswith(f"error: {message}\n")


def test_an_option_overrides_a_bad_environment_value() -> None:
    settings = load_settings(DemoSettings, ["--seed", "3"], environ={"DEMO_SEED": "many"})
    assert settings.seed == 3


def test_fields_not_made_with_setting_are_not_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert load_settings(DemoSettings, [], environ={}).internal == "not a setting"
    with pytest.raises(SystemExit) as exc_info:
        load_settings(DemoSettings, ["--internal", "x"], environ={})
    assert exc_info.value.code == 2
    assert "unrecognized arguments: --internal x" in capsys.readouterr().err


def test_a_bad_environment_value_is_a_usage_error_naming_the_variable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc_info:
        load_settings(DemoSettings, [], prog="demo", environ={"DEMO_SEED": "many"})
    assert exc_info.value.code == 2
    assert "demo: error: DEMO_SEED: invalid int value: 'many'" in capsys.readouterr().err


def test_a_bad_option_is_a_usage_error_naming_the_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc_info:
        load_settings(DemoSettings, ["--rate", "fast"], environ={})
    assert exc_info.value.code == 2
    assert "argument --rate: invalid float value: 'fast'" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "environ"), [(["--rate", "0"], {}), ([], {"DEMO_RATE": "-1"})])
def test_a_value_the_settings_reject_is_a_usage_error(
    argv: list[str], environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc_info:
        load_settings(DemoSettings, argv, environ=environ)
    assert exc_info.value.code == 2
    assert "error: DEMO_RATE must be positive" in capsys.readouterr().err


def test_help_lists_each_setting_with_its_variable_and_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc_info:
        load_settings(DemoSettings, ["--help"], prog="demo", description="A demo.", environ={})
    assert exc_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert out.startswith("usage: demo")
    assert "A demo." in out
    assert "--name DEMO_NAME the name (env DEMO_NAME, default demo)" in out
    assert "--seed DEMO_SEED the seed (env DEMO_SEED, default 7)" in out
    assert "--rate DEMO_RATE the rate, at most 100% (env DEMO_RATE, default 2.5)" in out
    assert "--tag DEMO_TAG the tag (env DEMO_TAG, default '')" in out
    assert "--internal" not in out


def test_help_works_whatever_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc_info:
        load_settings(DemoSettings, ["--help"], environ={"DEMO_SEED": "many"})
    assert exc_info.value.code == 0
    assert "(env DEMO_SEED, default 7)" in capsys.readouterr().out


@pytest.mark.parametrize("default", [True, None, [1]])
def test_a_setting_is_a_str_an_int_or_a_float(default: object) -> None:
    with pytest.raises(TypeError, match="the default of DEMO_X must be a str, an int or a float"):
        setting("DEMO_X", default, "x")
