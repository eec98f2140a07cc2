"""``python -m stock_service`` as the container runs it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from itertools import islice
from pathlib import Path

from tests.servicekit.fake_gateway import FakeGateway, Published, wait_registered
from tests.stock_service.test_service import simulated
from tests.waiting import HANG, within

ROOT = Path(__file__).parents[2]


def test_help_documents_the_feed_settings() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stock_service", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    out = " ".join(result.stdout.split())  # argparse wraps lines
    assert out.startswith("usage: python -m stock_service")
    for documented in [
        "(env WSLAB_SEED, default 2010)",
        "(env WSLAB_TICK_RATE, default 100.0)",
        "(env WSLAB_PUBLISH_INTERVAL, default 0.01)",
        "(env WSLAB_MAX_BATCH, default 10000)",
        "(env WSLAB_REPLAY, default '')",
        "(env WSLAB_REPLAY_SPEED, default 1.0)",
        "(env REDIS_URL, default redis://localhost:6379/0)",
    ]:
        assert documented in out


async def test_the_service_quotes_from_its_seed_and_stops_cleanly_on_sigterm(
    redis_url: str, tmp_path: Path, gateway: FakeGateway
) -> None:
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "WSLAB_HEALTH_FILE": str(tmp_path / "healthy"),
        "WSLAB_SEED": "99",
        "WSLAB_TICK_RATE": "1000",
    }
    await gateway.listen("quotes.IBM")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stock_service", cwd=ROOT, env=env, stderr=subprocess.PIPE
    )
    try:
        await wait_registered(gateway.redis, "stocks")
        item = await gateway.next()
        assert isinstance(item, Published)
        quote = ("IBM", item.message["seq"], item.message["price"])
        assert quote in islice(simulated(99), 100_000)
        process.send_signal(signal.SIGTERM)
        _, stderr = await within(process.communicate(), "the service to stop on SIGTERM")
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    assert b"= stocks service stopped" in stderr


def test_a_bad_replay_file_stops_the_service_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "quotes.csv"
    path.write_text("time,symbol,price\n0,XYZ,1\n")
    env = {**os.environ, "WSLAB_REPLAY": str(path), "WSLAB_HEALTH_FILE": str(tmp_path / "h")}
    result = subprocess.run(
        [sys.executable, "-m", "stock_service"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG,
        check=False,
    )
    assert result.returncode == 1
    assert f"! stocks service cannot start: {path}:2: unknown symbol 'XYZ'" in result.stderr
    assert "Traceback" not in result.stderr
