from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from servicekit.heartbeat import beat
from tests.waiting import until


async def test_the_file_is_touched_again_and_again_while_connected(tmp_path: Path) -> None:
    path = tmp_path / "healthy"
    connected = asyncio.Event()
    connected.set()
    task = asyncio.create_task(beat(path, connected, 0.01))
    try:
        await until(path.exists, "the file")
        path.unlink()
        await until(path.exists, "the file to be touched again")
    finally:
        task.cancel()


async def test_the_file_is_touched_once_connected(tmp_path: Path) -> None:
    path = tmp_path / "healthy"
    connected = asyncio.Event()
    task = asyncio.create_task(beat(path, connected, 0.01))
    try:
        await asyncio.sleep(0)
        assert not path.exists()
        connected.set()
        await until(path.exists, "the file")
    finally:
        task.cancel()


async def test_a_file_that_cannot_be_written_is_logged_once_and_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "missing-directory" / "healthy"
    connected = asyncio.Event()
    connected.set()
    task = asyncio.create_task(beat(path, connected, 0.01))
    try:
        await until(lambda: caplog.records, "a warning")
        path.parent.mkdir()
        await until(path.exists, "the file")
        assert not task.done()
    finally:
        task.cancel()
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(f"! cannot touch the health file {path}: ")
