"""``python -m stock_service`` as the container runs it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from stock_service import Market
from tests.servicekit.fake_gateway import DEADLINE, FakeGateway, Published, wait_subscribed

ROOT = Path(__file__).parents[2]


def test_help_documents_the_simulation_settings() -> None:
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
    assert "(env WSLAB_SEED, default 2010)" in out
    assert "(env WSLAB_TICK_RATE, default 20.0)" in out
    assert "(env REDIS_URL, default redis://localhost:6379/0)" in out


async def test_the_service_quotes_from_its_seed_and_stops_cleanly_on_sigterm(
    redis_url: str, tmp_path: Path, gateway: FakeGateway
) -> None:
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "WSLAB_HEALTH_FILE": str(tmp_path / "healthy"),
        "WSLAB_SEED": "99",
        "WSLAB_TICK_RATE": "200",
    }
    await gateway.listen("quotes.IBM")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stock_service", cwd=ROOT, env=env, stderr=subprocess.PIPE
    )
    try:
        await wait_subscribed(gateway.redis, "wslab:svc:stocks")
        item = await gateway.next()
        assert isinstance(item, Published)
        market = Market(seed=99, tick_rate=200)
        ticks = (market.tick() for _ in range(item.message["seq"] * len(market.symbols)))
        assert item.message["price"] == next(
            t.price for t in ticks if (t.symbol, t.seq) == ("IBM", item.message["seq"])
        )
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(DEADLINE):
            _, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    assert b"= stocks service stopped" in stderr
