"""Tests of client.bench: the histogram, the report, and both scenarios against a fake
deployment in memory (tests/integration/test_bench.py runs ``wslab bench`` on the stack)."""

from __future__ import annotations

import asyncio
import json
import random
import time

import pytest

from client.bench import BenchOptions, Histogram, Report, run_bench
from tests.waiting import within


def test_the_histogram_s_percentiles_are_within_one_percent() -> None:
    histogram = Histogram()
    values = [random.Random(2010).uniform(0.0001, 2.0) for _ in range(10_000)]
    for value in values:
        histogram.add(value)
    ordered = sorted(values)
    for fraction in (0.5, 0.9, 0.99, 0.999):
        exact = ordered[int(fraction * len(ordered)) - 1]
        assert histogram.percentile(fraction) == pytest.approx(exact, rel=0.011)
    assert histogram.max == max(values)
    assert histogram.count == 10_000


def test_an_empty_histogram_says_zero() -> None:
    assert Histogram().percentile(0.99) == 0.0


class FakeRoom:
    """A chat room and a stock feed in memory: what the scenarios need of a deployment."""

    def __init__(self) -> None:
        self.members: list[FakeSocket] = []


class FakeSocket:
    def __init__(self, room: FakeRoom, url: str) -> None:
        self.room = room
        self.inbox: asyncio.Queue[str] = asyncio.Queue()
        self.quotes: asyncio.Task[None] | None = None
        if "/chat" in url:
            room.members.append(self)
            self.inbox.put_nowait(json.dumps({"type": "members", "members": []}))

    async def send(self, message: str) -> None:
        request = json.loads(message)
        if request["type"] == "say":
            event = {"type": "message", "nick": "x", "text": request["text"], "seq": 1}
            for member in self.room.members:
                member.inbox.put_nowait(json.dumps(event))
        elif request["type"] == "subscribe":
            self.inbox.put_nowait(json.dumps({"type": "subscribed", "symbols": ["MSFT"]}))
            self.quotes = asyncio.create_task(self._tick())

    async def _tick(self) -> None:
        seq = 0
        while True:
            seq += 2 if seq == 4 else 1  # One quote skipped, as conflation does.
            quote = {"type": "quote", "symbol": "MSFT", "seq": seq, "ts": time.time()}
            self.inbox.put_nowait(json.dumps(quote))
            await asyncio.sleep(0.01)

    async def recv(self) -> str:
        return await self.inbox.get()

    async def close(self) -> None:
        if self.quotes is not None:
            self.quotes.cancel()


async def run(scenario: str, **options: object) -> Report:
    room = FakeRoom()

    async def opener(url: str) -> FakeSocket:
        return FakeSocket(room, url)

    chosen: dict[str, object] = {"duration": 0.5, "warmup": 0.1, **options}
    settings = BenchOptions(base="ws://fake", scenario=scenario, **chosen)  # type: ignore[arg-type]
    return await within(run_bench(settings, opener, protocol="fake"), "the bench to end")


async def test_in_the_chat_every_line_reaches_every_member_and_none_is_lost() -> None:
    report = await run("chat", connections=20, senders=2, rate=40)
    assert report.sent > 0
    assert report.expected == report.sent * 20
    assert report.deliveries == report.expected
    assert report.lost == 0
    assert report.errors == {}
    assert 0 <= report.latency["p50"] <= report.latency["max"]
    assert report.to_json()["lost"] == 0


async def test_quotes_count_deliveries_and_the_ticks_a_jump_in_seq_skipped() -> None:
    report = await run("quotes", connections=5, warmup=0.0)
    assert report.deliveries > 0
    assert report.expected is None
    assert report.skipped == 5  # Each connection's feed skipped seq 5 once.
    assert any(line.startswith("skipped") for line in report.lines())
