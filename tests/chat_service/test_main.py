"""``python -m chat_service`` as the container runs it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.chat_service.test_service import join
from tests.servicekit.fake_gateway import FakeGateway, wait_registered
from tests.waiting import until, within

ROOT = Path(__file__).parents[2]


def test_help_documents_every_setting() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chat_service", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    out = " ".join(result.stdout.split())  # argparse wraps lines
    assert out.startswith("usage: python -m chat_service")
    for variable in (
        "REDIS_URL",
        "WSLAB_HEALTH_FILE",
        "WSLAB_HEARTBEAT_INTERVAL",
        "WSLAB_LOG_LEVEL",
        "WSLAB_HISTORY",
        "WSLAB_MAX_TEXT",
        "WSLAB_RATE",
        "WSLAB_BURST",
        "WSLAB_MAX_ROOMS",
        "WSLAB_SWEEP_INTERVAL",
    ):
        assert f"(env {variable}, default " in out


def test_a_bad_setting_exits_with_status_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chat_service"],
        cwd=ROOT,
        env={**os.environ, "WSLAB_HEARTBEAT_INTERVAL": "often"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "invalid float value: 'often'" in result.stderr


def test_a_history_of_less_than_one_event_exits_with_status_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chat_service"],
        cwd=ROOT,
        env={**os.environ, "WSLAB_HISTORY": "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "history must be at least 1" in result.stderr


def test_an_invalid_redis_url_exits_with_status_1() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chat_service"],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": "localhost:6379"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "! chat service cannot start: Redis URL must specify one of" in result.stderr


async def test_the_service_runs_is_healthy_and_stops_cleanly_on_sigterm(
    redis_url: str, tmp_path: Path, gateway: FakeGateway
) -> None:
    health_file = tmp_path / "healthy"
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "WSLAB_HEALTH_FILE": str(health_file),
        "WSLAB_HEARTBEAT_INTERVAL": "0.1",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chat_service", cwd=ROOT, env=env, stderr=subprocess.PIPE
    )
    try:
        await wait_registered(gateway.redis, "chat")
        await join(gateway, "gw-test.1", "alice", seq=1)
        await until(health_file.exists, "the service to write its health file")
        health = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "servicekit.health", cwd=ROOT, env=env, stdout=subprocess.PIPE
        )
        out, _ = await within(health.communicate(), "the health check")
        assert out.startswith(b"healthy: ")
        assert health.returncode == 0
        process.send_signal(signal.SIGTERM)
        _, stderr = await within(process.communicate(), "the service to stop on SIGTERM")
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    assert b"= chat service stopped" in stderr
    assert not health_file.exists()
