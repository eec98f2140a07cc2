"""Tests of client.bench: the histogram, the report, and both scenarios against a fake
deployment in memory (tests/integration/test_bench.py runs ``wslab bench`` on the stack)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from client.bench import (
    BenchOptions,
    Histogram,
    Report,
    Sync,
    Tally,
    merge_reports,
    run_bench,
    shares,
    split,
)
from tests.waiting import HANG, within


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


#: How long a measure lasts if what its test waits for never comes.
LONG = HANG / 2


def measured(
    options: BenchOptions,
    opener: Callable[[str], Awaitable[FakeSocket]],
    enough: Callable[[Tally], bool],
    sync: Sync | None = None,
) -> Coroutine[Any, Any, Report]:
    """``run_bench`` on a fake deployment, its measure lasting until the tally shows
    ``enough``, however slow the machine: its clock is the Unix time until then, and then
    jumps past the end of the measure."""
    jumped = 0.0

    def clock() -> float:
        return time.time() + jumped

    def progress(elapsed: float, tally: Tally) -> None:
        nonlocal jumped
        if enough(tally):
            jumped = options.duration

    return run_bench(options, opener, protocol="fake", clock=clock, progress=progress, sync=sync)


async def run(scenario: str, enough: Callable[[Tally], bool], **options: object) -> Report:
    room = FakeRoom()

    async def opener(url: str) -> FakeSocket:
        return FakeSocket(room, url)

    chosen: dict[str, object] = {"duration": LONG, "warmup": 0.1, **options}
    settings = BenchOptions(base="ws://fake", scenario=scenario, **chosen)  # type: ignore[arg-type]
    return await within(measured(settings, opener, enough), "the bench to end")


async def test_in_the_chat_every_line_reaches_every_member_and_none_is_lost() -> None:
    report = await run("chat", lambda tally: tally.sent > 0, connections=20, senders=2, rate=40)
    assert report.sent > 0
    assert report.expected == report.sent * 20
    assert report.deliveries == report.expected
    assert report.lost == 0
    assert report.errors == {}
    assert 0 <= report.latency["p50"] <= report.latency["max"]
    assert report.to_json()["lost"] == 0


async def test_quotes_count_deliveries_and_the_ticks_a_jump_in_seq_skipped() -> None:
    report = await run("quotes", lambda tally: tally.skipped >= 5, connections=5, warmup=0.0)
    assert report.deliveries > 0
    assert report.expected is None
    assert report.skipped == 5  # Each connection's feed skipped seq 5 once.
    assert any(line.startswith("skipped") for line in report.lines())


def test_merged_histograms_have_the_percentiles_of_all_their_latencies() -> None:
    values = [random.Random(11).uniform(0.0001, 1.0) for _ in range(4_000)]
    whole, first, second = Histogram(), Histogram(), Histogram()
    for number, value in enumerate(values):
        whole.add(value)
        (first if number % 3 else second).add(value)
    first.merge(second)
    assert first.count == whole.count
    assert first.max == whole.max
    for fraction in (0.5, 0.99, 0.999):
        assert first.percentile(fraction) == whole.percentile(fraction)


def test_a_histogram_comes_back_whole_from_its_json() -> None:
    histogram = Histogram()
    for value in (0.001, 0.002, 0.002, 0.5):
        histogram.add(value)
    copy = Histogram.from_json(json.loads(json.dumps(histogram.to_json())))
    assert (copy.count, copy.max) == (4, 0.5)
    assert copy.percentile(0.5) == histogram.percentile(0.5)
    assert copy.percentile(1.0) == histogram.percentile(1.0)


def test_shares_split_a_total_as_evenly_as_can_be_larger_ones_first() -> None:
    assert shares(10, 3) == [4, 3, 3]
    assert shares(2, 4) == [1, 1, 0, 0]
    assert sum(shares(1001, 7)) == 1001


def test_each_worker_gets_its_share_of_connections_senders_and_rate_in_one_room() -> None:
    options = BenchOptions(base="ws://x", scenario="chat", connections=101, senders=10, rate=50)
    parts = split(options, 3)
    assert [part.connections for part in parts] == [34, 34, 33]
    assert [part.senders for part in parts] == [4, 3, 3]
    assert sum(part.rate for part in parts) == pytest.approx(50)
    assert [part.first for part in parts] == [0, 34, 68]  # Nicknames never collide.
    assert len({part.room for part in parts}) == 1
    assert parts[0].room


def report_of(sent: int, deliveries: int, errors: dict[str, int], *latencies: float) -> Report:
    histogram = Histogram()
    for latency in latencies:
        histogram.add(latency)
    options = BenchOptions(base="ws://x", scenario="chat", connections=5)
    return Report(
        options=options,
        protocol="draft",
        seconds=1.0,
        sent=sent,
        deliveries=deliveries,
        expected=None,
        skipped=0,
        errors=errors,
        latency={},
        gateway={},
        histogram=histogram,
    )


def test_merged_reports_add_up_and_expect_every_line_at_every_member() -> None:
    options = BenchOptions(base="ws://x", scenario="chat", connections=10, duration=2.0)
    parts = [
        report_of(3, 28, {"rate_limited": 1}, 0.010, 0.020),
        report_of(2, 20, {"rate_limited": 2, "bus_down": 1}, 0.500),
    ]
    merged = merge_reports(options, parts, {"messages_out": 60.0})
    assert (merged.sent, merged.deliveries, merged.expected) == (5, 48, 50)
    assert merged.lost == 2
    assert merged.errors == {"rate_limited": 3, "bus_down": 1}
    assert merged.latency["max"] == 0.5
    assert merged.rate == 24.0
    assert merged.gateway == {"messages_out": 60.0}
    assert merged.processes == 2
    assert "in 2 processes" in merged.lines()[0]


class Barrier:
    """Two runs in one process keeping in step, as worker processes do through a pipe."""

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self.ready: list[asyncio.Future[float]] = []
        self.sent: list[tuple[int, asyncio.Future[int]]] = []

    async def start(self) -> float:
        future = asyncio.get_running_loop().create_future()
        self.ready.append(future)
        if len(self.ready) == self.parties:
            start = time.time() + 0.1
            for waiting in self.ready:
                waiting.set_result(start)
        return await future

    async def total_sent(self, sent: int) -> int:
        future = asyncio.get_running_loop().create_future()
        self.sent.append((sent, future))
        if len(self.sent) == self.parties:
            total = sum(count for count, _ in self.sent)
            for _, waiting in self.sent:
                waiting.set_result(total)
        return await future


async def test_runs_sharing_a_room_hear_each_other_and_lose_nothing() -> None:
    room = FakeRoom()

    async def opener(url: str) -> FakeSocket:
        return FakeSocket(room, url)

    whole = BenchOptions(
        base="ws://fake", scenario="chat", connections=9, senders=3, rate=30, duration=LONG
    )
    barrier = Barrier(2)
    runs = [
        measured(part, opener, lambda tally: tally.sent > 0, barrier) for part in split(whole, 2)
    ]
    parts = await within(asyncio.gather(*runs), "the runs to end")
    assert all(part.lost == 0 for part in parts)
    merged = merge_reports(whole, parts, {})
    assert merged.sent > 0
    assert merged.deliveries == merged.expected == merged.sent * 9
    assert merged.lost == 0
