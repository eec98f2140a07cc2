from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from servicekit import health
from tests.waiting import HANG

ROOT = Path(__file__).parents[2]


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> float:
    """Stop the check's clock, so that a file is exactly as old as a test makes it."""
    now = time.time()
    monkeypatch.setattr(health, "time", SimpleNamespace(time=lambda: now))
    return now


def make_stale(path: Path, now: float, seconds: float) -> None:
    os.utime(path, (now - seconds, now - seconds))


def test_a_fresh_file_is_healthy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "healthy"
    path.touch()
    assert health.main(["--file", str(path)]) == 0
    assert capsys.readouterr().out.startswith("healthy: ")


def test_a_file_older_than_15_seconds_is_unhealthy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], now: float
) -> None:
    path = tmp_path / "healthy"
    path.touch()
    make_stale(path, now, 16)
    assert health.main(["--file", str(path)]) == 1
    assert "is 16.0 s old" in capsys.readouterr().out


def test_a_file_younger_than_15_seconds_is_healthy(tmp_path: Path, now: float) -> None:
    path = tmp_path / "healthy"
    path.touch()
    make_stale(path, now, 14.9)
    assert health.main(["--file", str(path)]) == 0


def test_a_missing_file_is_unhealthy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert health.main(["--file", str(tmp_path / "missing")]) == 1
    assert capsys.readouterr().out == f"unhealthy: {tmp_path / 'missing'} does not exist\n"


def test_the_file_comes_from_wslab_health_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "healthy"
    path.touch()
    monkeypatch.setenv("WSLAB_HEALTH_FILE", str(path))
    assert health.main([]) == 0
    monkeypatch.setenv("WSLAB_HEALTH_FILE", str(tmp_path / "missing"))
    assert health.main([]) == 1


@pytest.mark.parametrize(("fresh", "status"), [(True, 0), (False, 1)])
@pytest.mark.parametrize(
    "command",
    [["-m", "servicekit.health"], ["-I", "servicekit/health.py"]],
    ids=["as a module", "as the images run it"],
)
def test_the_health_command_exits_with_the_status(
    tmp_path: Path, fresh: bool, status: int, command: list[str]
) -> None:
    path = tmp_path / "healthy"
    if fresh:
        path.touch()
    result = subprocess.run(
        [sys.executable, *command],
        env={**os.environ, "WSLAB_HEALTH_FILE": str(path)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HANG,
        check=False,
    )
    assert result.returncode == status, result
    assert result.stderr == ""
