"""``wslab bench`` against the real stack, in both protocols: its report is whole and, on
a healthy stack, nothing is lost and no error comes."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import pytest

from tests.integration.conftest import ROOT, Address
from tests.waiting import within


async def bench(gateway: Address, *args: str) -> tuple[int, dict[str, Any]]:
    host, port = gateway
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "client", "bench", f"ws://{host}:{port}", "--json"],
        *["--duration", "2", "--warmup", "0.5", "--no-proxy", *args],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, err = await within(process.communicate(), "wslab bench to finish")
    assert process.returncode is not None
    assert out, err.decode()
    return process.returncode, json.loads(out)


@pytest.mark.parametrize("protocol", ["draft", "rfc6455"])
async def test_the_chat_bench_delivers_every_line_to_every_member(
    gateway: Address, protocol: str
) -> None:
    status, report = await bench(gateway, "-c", "20", "--rate", "10", "--protocol", protocol)
    assert status == 0, report
    assert report["sent"] > 0
    assert report["deliveries"] == report["expected"] == report["sent"] * 20
    assert (report["lost"], report["errors"]) == (0, {})
    assert report["latency_ms"]["p50"] <= report["latency_ms"]["max"]
    assert report["gateway"]["messages_out"] >= report["deliveries"]
    assert report["gateway"]["undelivered"] == 0


async def test_the_quotes_bench_counts_deliveries_from_the_feed(gateway: Address) -> None:
    status, report = await bench(gateway, "--scenario", "quotes", "-c", "10", "--symbols", "MSFT")
    assert status == 0, report
    assert report["deliveries"] > 0
    assert report["expected"] is None
    assert report["errors"] == {}


async def test_two_processes_share_one_room_and_their_reports_add_up(gateway: Address) -> None:
    status, report = await bench(gateway, "-c", "20", "--rate", "10", "--processes", "2")
    assert status == 0, report
    assert report["processes"] == 2
    assert report["connections"] == 20
    assert report["sent"] > 0
    # Every member, whichever process holds it, hears every line of both processes.
    assert report["deliveries"] == report["expected"] == report["sent"] * 20
    assert (report["lost"], report["errors"]) == (0, {})
    assert report["gateway"]["messages_out"] >= report["deliveries"]
