"""``wslab bench``'s arguments; tests/integration/test_bench.py runs it against the stack."""

from __future__ import annotations

from client.cli import ExitStatus
from tests.client.cli.running import Result, wslab


def test_bench_refuses_more_processes_than_connections() -> None:
    result = wslab("bench", "--processes", "3", "-c", "2", "ws://127.0.0.1:1")
    message = "wslab: --processes 3 is more than the 2 connections\n"
    assert result == Result(ExitStatus.USAGE, "", message)
