"""Load a deployment and measure it: the library half of ``wslab bench``.

Two scenarios, over either protocol (the draft or RFC 6455; the caller opens sockets):

- ``chat``: N connections join one room of their own; once each has heard a probe line
  (the gateway subscribes to a new room as its first member joins), S of them say lines
  at a total rate, each line carrying the time it was sent; every member receives every
  line, so a line said is N deliveries. Loss is what never arrived, once the sending
  stopped and the deliveries drained.
- ``quotes``: N connections subscribe to symbols at ``/stocks``; a delivery is a quote,
  its latency measured from the ``ts`` the stock service gave it. A jump in a symbol's
  ``seq`` counts the quotes skipped (conflated for a slow client).

Only what arrives after the warm-up counts. Latencies go into a :class:`Histogram` with 1%
precision, as an HDR histogram keeps them, so that millions cost a few kilobytes.

One process may not keep up with a gateway: :mod:`client.cli.bench` runs several, each
with a share of the run (:func:`split`: in one room for the chat, each member with a nick
of its own), started together through a :class:`Sync`, and :func:`merge_reports` adds
their reports up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

__all__ = [
    "BenchOptions",
    "Histogram",
    "Progress",
    "Report",
    "Socket",
    "Sync",
    "Tally",
    "merge_reports",
    "run_bench",
    "shares",
    "split",
]

Scenario = Literal["chat", "quotes"]
#: Percentiles reported, as fractions.
PERCENTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999}
#: Connections opened at once.
CONCURRENCY = 50
#: Seconds the chat scenario waits for every member to hear the room before measuring.
PRIME_TIMEOUT = 30.0


class Socket(Protocol):
    """A WebSocket connection of either protocol, as the scenarios use it."""

    async def send(self, message: str) -> None: ...

    async def recv(self) -> str | bytes: ...

    async def close(self) -> Any: ...


#: Opens a connection to a URL.
Opener = Callable[[str], Awaitable[Socket]]


class Histogram:
    """Latencies in buckets 1% wide (relative), with the exact maximum.

    Args:
        precision: the relative width of a bucket.
    """

    def __init__(self, precision: float = 0.01) -> None:
        self._log_base = math.log1p(precision)
        self._counts: Counter[int] = Counter()
        self.count = 0
        self.max = 0.0

    def add(self, seconds: float) -> None:
        """Count one latency (negative ones, from clock skew, count as 0)."""
        micros = max(seconds * 1e6, 1.0)
        self._counts[int(math.log(micros) / self._log_base)] += 1
        self.count += 1
        self.max = max(self.max, seconds)

    def merge(self, other: Histogram) -> None:
        """Count ``other``'s latencies too (they must have the same precision)."""
        self._counts.update(other._counts)
        self.count += other.count
        self.max = max(self.max, other.max)

    def to_json(self) -> dict[str, object]:
        """The counts, to send to another process (:meth:`from_json` reads them)."""
        return {
            "log_base": self._log_base,
            "counts": {str(bucket): n for bucket, n in self._counts.items()},
            "max": self.max,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Histogram:
        histogram = cls()
        histogram._log_base = float(data["log_base"])
        histogram._counts = Counter({int(bucket): int(n) for bucket, n in data["counts"].items()})
        histogram.count = sum(histogram._counts.values())
        histogram.max = float(data["max"])
        return histogram

    def percentile(self, fraction: float) -> float:
        """The latency below which ``fraction`` of the counted ones are, in seconds."""
        if not self.count:
            return 0.0
        rank = fraction * self.count
        seen = 0
        for bucket in sorted(self._counts):
            seen += self._counts[bucket]
            if seen >= rank:
                # The bucket's upper edge, never above the maximum seen.
                return min(math.exp((bucket + 1) * self._log_base) / 1e6, self.max)
        return self.max


@dataclass
class Tally:
    """What the connections saw, from ``since`` (the end of the warm-up) on."""

    since: float
    sent: int = 0
    deliveries: int = 0
    skipped: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latency: Histogram = field(default_factory=Histogram)

    def delivered(self, sent_at: float, now: float) -> None:
        if sent_at >= self.since:
            self.deliveries += 1
            self.latency.add(now - sent_at)


@dataclass(frozen=True)
class BenchOptions:
    """A run of ``wslab bench``.

    Attributes:
        base: the gateway, ``ws://HOST:PORT`` or ``wss://...``.
        scenario: ``chat`` or ``quotes``.
        connections: how many connections.
        senders: chat: how many of them say lines.
        rate: chat: lines per second, all senders together.
        symbols: quotes: the symbols to subscribe to (``*``: all).
        duration: seconds measured, after the warm-up.
        warmup: seconds before measuring.
        drain: chat: seconds to wait, at most, for the last lines to arrive.
        room: chat: the token naming the room and the lines (several processes share
            one); empty: a new one.
        first: the number of the first connection, which its nickname carries (each
            process numbers its share of the connections from its own first).
    """

    base: str
    scenario: Scenario
    connections: int = 100
    senders: int = 1
    rate: float = 10.0
    symbols: tuple[str, ...] = ("*",)
    duration: float = 10.0
    warmup: float = 2.0
    drain: float = 10.0
    room: str = ""
    first: int = 0


@dataclass(frozen=True)
class Report:
    """The figures of a run: what ``wslab bench`` prints."""

    options: BenchOptions
    protocol: str
    seconds: float
    sent: int
    deliveries: int
    expected: int | None
    skipped: int
    errors: dict[str, int]
    latency: dict[str, float]
    gateway: dict[str, float]
    #: The latencies themselves, for :func:`merge_reports`.
    histogram: Histogram = field(default_factory=Histogram, compare=False, repr=False)
    #: Processes whose reports this one adds up.
    processes: int = 1

    @property
    def rate(self) -> float:
        """Deliveries per second."""
        return self.deliveries / self.seconds if self.seconds else 0.0

    @property
    def lost(self) -> int | None:
        return None if self.expected is None else max(self.expected - self.deliveries, 0)

    def to_json(self) -> dict[str, object]:
        return {
            "scenario": self.options.scenario,
            "protocol": self.protocol,
            "connections": self.options.connections,
            "seconds": round(self.seconds, 3),
            "sent": self.sent,
            "deliveries": self.deliveries,
            "deliveries_per_second": round(self.rate, 1),
            "expected": self.expected,
            "lost": self.lost,
            "skipped": self.skipped,
            "errors": self.errors,
            "latency_ms": {name: round(value * 1e3, 3) for name, value in self.latency.items()},
            "gateway": self.gateway,
            "processes": self.processes,
        }

    def lines(self) -> list[str]:
        """The report for a person."""
        options = self.options
        what = f"{options.scenario}, {options.connections} connections ({self.protocol})"
        if self.processes > 1:
            what += f" in {self.processes} processes"
        latency = "  ".join(f"{name} {value * 1e3:.1f}" for name, value in self.latency.items())
        lines = [
            f"{what}, {self.seconds:.1f} s measured",
            f"deliveries  {self.deliveries:,} ({self.rate:,.0f}/s)",
            f"latency ms  {latency}",
        ]
        if self.expected is not None:
            lines.append(
                f"sent        {self.sent:,} lines; lost {self.lost:,} of {self.expected:,}"
            )
        if options.scenario == "quotes":
            lines.append(f"skipped     {self.skipped:,} quotes (conflated)")
        errors = ", ".join(f"{code} {n}" for code, n in sorted(self.errors.items())) or "none"
        lines.append(f"errors      {errors}")
        if self.gateway:
            figures = ", ".join(f"{name} {value:,.0f}" for name, value in self.gateway.items())
            lines.append(f"gateway     {figures}")
        return lines


def latencies(histogram: Histogram) -> dict[str, float]:
    """The percentiles reported, and the maximum, in seconds."""
    latency = {name: histogram.percentile(q) for name, q in PERCENTILES.items()}
    latency["max"] = histogram.max
    return latency


def shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` whole shares as even as can be, larger ones first."""
    return [total // parts + (part < total % parts) for part in range(parts)]


def split(options: BenchOptions, processes: int) -> list[BenchOptions]:
    """Each process's share of a run: its connections, senders and rate, the first number
    of its nicknames, and the room of all (a chat's lines go to every process's members)."""
    room = options.room or secrets.token_hex(3)
    connections = shares(options.connections, processes)
    senders = shares(min(options.senders, options.connections), processes)
    total = sum(senders)
    parts = []
    first = 0
    for count, said in zip(connections, senders, strict=True):
        rate = options.rate * said / total if total else 0.0
        part = replace(options, connections=count, senders=said, rate=rate, room=room, first=first)
        parts.append(part)
        first += count
    return parts


def merge_reports(
    options: BenchOptions, reports: Sequence[Report], gateway: Mapping[str, float]
) -> Report:
    """The report of a run split among processes: their figures added up.

    ``options`` are the whole run's; ``gateway``, its counters, read once for all. In the
    chat every member hears every process's lines, so a line sent is
    ``options.connections`` deliveries expected, whoever sent it.
    """
    histogram = Histogram()
    errors: Counter[str] = Counter()
    for report in reports:
        histogram.merge(report.histogram)
        errors.update(report.errors)
    sent = sum(report.sent for report in reports)
    chat = options.scenario == "chat"
    return Report(
        options=options,
        protocol=reports[0].protocol if reports else "",
        seconds=options.duration,
        sent=sent,
        deliveries=sum(report.deliveries for report in reports),
        expected=sent * options.connections if chat else None,
        skipped=sum(report.skipped for report in reports),
        errors=dict(errors),
        latency=latencies(histogram),
        gateway=dict(gateway),
        histogram=histogram,
        processes=len(reports),
    )


class Sync(Protocol):
    """How one of several processes of a run keeps in step with the others."""

    async def start(self) -> float:
        """Say this process is ready; return the Unix time the measure starts at, the
        same for all."""
        ...

    async def total_sent(self, sent: int) -> int:
        """Say how many lines this process sent; return how many all of them sent."""
        ...


#: Called about once a second while measuring: seconds measured so far, and the tally.
Progress = Callable[[float, Tally], None]
#: Reads the gateway's counters (from /metrics), for the report.
Metrics = Callable[[], Awaitable[Mapping[str, float]]]


async def run_bench(
    options: BenchOptions,
    opener: Opener,
    *,
    protocol: str,
    progress: Progress | None = None,
    metrics: Metrics | None = None,
    clock: Callable[[], float] = time.time,
    sync: Sync | None = None,
) -> Report:
    """Run ``options``' scenario through connections ``opener`` opens; return the figures.

    ``clock`` is the Unix time: chat lines carry it, and quotes carry the service's.
    ``sync`` starts the measure with the other processes of the run, and counts what all
    of them sent, the deliveries each member expects.
    """
    tally = Tally(since=math.inf)
    sockets: list[Socket] = []
    tasks: list[asyncio.Task[None]] = []
    before = dict(await metrics()) if metrics is not None else {}
    token = options.room or secrets.token_hex(3)
    marker = f"bench {token} "
    room = f"bench-{token}"
    expected: int | None = None
    primed: list[asyncio.Event] = []
    try:
        await _open(options, opener, tally, sockets, tasks, primed, marker, room, clock)
        if options.scenario == "chat":
            await _prime(sockets[0], marker, room, primed, clock)
        tally.since = await sync.start() if sync is not None else clock() + options.warmup
        end = tally.since + options.duration
        senders = []
        if options.scenario == "chat":
            count = min(options.senders, len(sockets))
            interval = count / options.rate if count else 0.0
            senders = [
                asyncio.create_task(
                    _say(socket, tally, marker, room, number, interval, end, clock, number / count)
                )
                for number, socket in enumerate(sockets[:count])
            ]
            tasks += senders
        while (now := clock()) < end:
            await asyncio.sleep(min(1.0, end - now))
            if progress is not None and clock() >= tally.since:
                progress(min(clock(), end) - tally.since, tally)
        await asyncio.gather(*senders)
        if options.scenario == "chat":
            sent = await sync.total_sent(tally.sent) if sync is not None else tally.sent
            expected = sent * len(sockets)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(options.drain):
                    while tally.deliveries < expected:
                        await asyncio.sleep(0.05)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)
    after = dict(await metrics()) if metrics is not None else {}
    return Report(
        options=options,
        protocol=protocol,
        seconds=options.duration,
        sent=tally.sent,
        deliveries=tally.deliveries,
        expected=expected,
        skipped=tally.skipped,
        errors=dict(tally.errors),
        latency=latencies(tally.latency),
        gateway={name: after[name] - before.get(name, 0.0) for name in after},
        histogram=tally.latency,
    )


async def _open(
    options: BenchOptions,
    opener: Opener,
    tally: Tally,
    sockets: list[Socket],
    tasks: list[asyncio.Task[None]],
    primed: list[asyncio.Event],
    marker: str,
    room: str,
    clock: Callable[[], float],
) -> None:
    """Open the connections, ``CONCURRENCY`` at a time, each read by a task, until each
    has joined its room or subscribed; ``primed`` gets an event per connection, set once
    it receives what is measured."""
    semaphore = asyncio.Semaphore(CONCURRENCY)
    joined: list[asyncio.Event] = []

    async def open_one(number: int) -> None:
        if options.scenario == "chat":
            nick = f"b{marker.split()[1]}-{options.first + number}"
            url = f"{options.base}/chat?nick={nick}&room={room}"
        else:
            url = f"{options.base}/stocks"
        async with semaphore:
            socket = await opener(url)
        sockets.append(socket)
        events = (asyncio.Event(), asyncio.Event())
        joined.append(events[0])
        primed.append(events[1])
        reader = _read(socket, options.scenario, tally, marker, *events, clock)
        tasks.append(asyncio.create_task(reader))
        if options.scenario == "quotes":
            await socket.send(json.dumps({"type": "subscribe", "symbols": list(options.symbols)}))

    await asyncio.gather(*(open_one(number) for number in range(options.connections)))
    for event in joined:
        await event.wait()


async def _prime(
    socket: Socket, marker: str, room: str, primed: list[asyncio.Event], clock: Callable[[], float]
) -> None:
    """Say probe lines until every connection heard one live.

    The gateway subscribes to a new room's channel when its first member joins, and misses
    what is published before the subscription takes effect (docs/BUS.md, "Delivery"): the
    measure starts once every member is known to hear the room.
    """
    try:
        async with asyncio.timeout(PRIME_TIMEOUT):
            while not all(event.is_set() for event in primed):
                text = f"{marker}probe 0 {clock()!r}"
                await socket.send(json.dumps({"type": "say", "room": room, "text": text}))
                await asyncio.sleep(0.25)  # 4 lines a second: under the chat's rate limit.
    except TimeoutError:
        heard = sum(event.is_set() for event in primed)
        msg = f"only {heard} of {len(primed)} connections heard the room in {PRIME_TIMEOUT:g} s"
        raise RuntimeError(msg) from None


async def _read(
    socket: Socket,
    scenario: Scenario,
    tally: Tally,
    marker: str,
    joined: asyncio.Event,
    primed: asyncio.Event,
    clock: Callable[[], float],
) -> None:
    """Count what ``socket`` receives until it closes or the run ends."""
    seqs: dict[str, int] = {}
    try:
        while True:
            data = await socket.recv()
            now = clock()
            message = json.loads(data) if isinstance(data, str) else {}
            kind = message.get("type") if isinstance(message, dict) else None
            if kind == "error":
                tally.errors[str(message.get("code"))] += 1
            elif kind == "members":
                joined.set()
            elif kind == "subscribed":
                joined.set()
                primed.set()
            elif kind == "message" and str(message.get("text", "")).startswith(marker):
                primed.set()
                tally.delivered(float(message["text"].rsplit(" ", 1)[1]), now)
            elif kind == "quote":
                symbol, seq = message["symbol"], message["seq"]
                last = seqs.get(symbol)
                if last is not None and seq > last + 1 and now >= tally.since:
                    tally.skipped += seq - last - 1
                seqs[symbol] = max(seq, last or 0)
                tally.delivered(float(message["ts"]), now)
    except asyncio.CancelledError:
        raise
    except Exception:
        tally.errors["connection_closed"] += 1
        joined.set()
        primed.set()


async def _say(
    socket: Socket,
    tally: Tally,
    marker: str,
    room: str,
    number: int,
    interval: float,
    end: float,
    clock: Callable[[], float],
    phase: float,
) -> None:
    """Say a line every ``interval`` seconds until ``end``, each carrying its send time,
    the first ``phase`` (a fraction) of an interval late, so the senders' lines spread."""
    line = 0
    next_at = clock() + phase * interval
    await asyncio.sleep(phase * interval)
    while (now := clock()) < end:
        if now >= tally.since:
            tally.sent += 1
        text = f"{marker}{number} {line} {now!r}"
        await socket.send(json.dumps({"type": "say", "room": room, "text": text}))
        line += 1
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - clock()))
