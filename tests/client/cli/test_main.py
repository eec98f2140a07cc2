"""The dispatcher, ``wslab`` itself: its options, and arguments no command accepts."""

from __future__ import annotations

import importlib.metadata
import subprocess

import pytest

from client.cli import ExitStatus, main
from tests.client.cli.running import installed_wslab
from tests.waiting import HANG


def test_wslab_version_prints_the_version_of_the_installed_distribution() -> None:
    completed = subprocess.run(
        [installed_wslab(), "--version"], capture_output=True, text=True, timeout=HANG, check=False
    )
    expected = f"wslab {importlib.metadata.version('wslab')}\n"
    assert (completed.returncode, completed.stdout, completed.stderr) == (0, expected, "")


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["connect"])
    assert info.value.code == ExitStatus.USAGE
    assert "the following arguments are required: url" in capsys.readouterr().err
