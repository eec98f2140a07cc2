"""wslab's gateway beside the conventional stack: deliveries/s at p99 < 50 ms, memory, handshakes.

    python benchmarks/side_by_side.py                        # the whole table, ~10 min
    python benchmarks/side_by_side.py --workloads quotes-100 --stacks wslab
    python benchmarks/side_by_side.py --loops uvloop,asyncio  # both event loops
    python benchmarks/side_by_side.py --workloads memory,handshakes

The stacks (benchmarks/stacks.py): **wslab** (``python -m gateway``, ``python -m
chat_service``, ``python -m stock_service``) and **conventional** (benchmarks/
conventional_app.py: FastAPI on uvicorn[standard], a WebSocket endpoint per route, one
``redis.asyncio`` pub/sub per process, ``await ws.send_text`` per client). The server under
test (the gateway, or the conventional app) is pinned to core 0; Redis, the wslab services
and this process, which generates the load and measures, to core 1. Every run starts from
a fresh Redis and a fresh server. All on loopback, in RFC 6455, which both stacks speak.

Workloads
=========

- ``quotes-N``: N connections to ``/stocks`` subscribe to every symbol. This process
  publishes quote messages (the stock service's JSON, ``ts`` set to the time of
  publishing) on each symbol's channel in turn, in one pipeline every 5 ms, on the
  channels each stack listens to: wslab's topics (``wslab:topic:quotes.<SYMBOL>``; the real
  stock service subscribed the connections, its own feed slowed to a tick a minute) and the
  conventional app's ``quotes.<SYMBOL>``. A quote is N deliveries.
- ``chat-N``: N members of one new room at ``/chat``; a few of them (the samples) say lines
  (``{"type": "say", ...}``, the text ``t=<time sent>``). For wslab, through the real chat
  service (its rate limit raised by WSLAB_RATE and WSLAB_BURST); for the conventional app,
  the endpoint publishes each line to the room's channel. A line is N deliveries.
- ``memory``: the server's resident memory (``VmRSS``) per idle connection: 20 warm-up
  connections, then ``--memory-connections`` more to ``/stocks``, read 2 s after they are
  all open (for wslab, once its ``wslab_open_connections`` counts them), for each protocol
  the stack speaks (wslab: RFC 6455 and the 2010 draft; draft connections are the
  ``client`` library's).
- ``handshakes``: ``--handshakes`` connections opened to ``/stocks``, 50 at a time: opening
  handshakes per second, and the server's CPU time per handshake, for each stack with h11
  and with httptools (wslab with httptools is benchmarks/gateway_variant.py: uvicorn's own
  httptools protocol, without the gateway's handshake deadline).

Method
======

A step holds an offered rate (deliveries per second: messages per second times receivers)
for ``--warm`` seconds, then ``--measure`` seconds. The delivered rate is the text frames
every connection received during those seconds, divided by them. The latency is from each
message's send time (the quote's ``ts``, the chat line's text) to its receipt, for every
message sent in the measured seconds, at the sample connections, wherever it arrives
before the step drains (no frame for 0.3 s; 15 s at most): if more than 1% of the sampled
messages never arrive, the p99 is infinite. A step passes if its p99 is under 50 ms and it
delivered at least 95% of the offered rate. The rates tried are :func:`rates.search`'s:
up by 1.6 times from ``--start`` while steps pass, then twice the geometric middle between
the highest passing and the lowest failing rate, then 1.5 and 2 times the highest passing
one (the overload curve). Reported: the highest delivered rate of a passing step, and of
the overload steps, their delivered rate as a share of the highest delivered of any step.

The load generator (benchmarks/loadgen.py) must cost much less than the gateway per
delivery, or it would measure itself: most connections are sinks, raw asyncio protocols
that walk the frame headers and count text frames without decoding them (about 0.25 µs a
frame); ``--samples`` connections (10) decode each frame's send time and measure the
latency, and they are the ones saying the chat lines. So the p99 is that of the samples,
which share the load generator's event loop with the sinks: a load generator falling
behind shows as latency, against the server under test. The chat's senders are samples,
so a line's latency includes its trip to the chat service (wslab) or the endpoint
(conventional) and back.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib.metadata
import itertools
import json
import math
import os
import platform
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from types import FrameType
from typing import IO, Any

import loadgen
import redis
import uvicorn
from loadgen import LINE_PREFIX, Window
from machine import cpu_model, load_average
from processes import (
    KIB,
    MIB,
    busy,
    core_times,
    cpu_time,
    memory,
    metric,
    raise_open_files,
    wait_open,
)
from rates import P99_LIMIT, Step, Summary, search, share, summarize
from redis.asyncio import Redis
from report import markdown_table
from stacks import OTHER_CORE, SERVER_CORE, Running, Server, running

from client import Connection as DraftConnection
from client import connect as draft_connect
from servicekit import encode
from stock_service import STOCKS, Market, Quote
from stock_service.messages import quote

#: The fan-out workloads: kind and receivers.
FANOUT = {
    "quotes-100": ("quotes", 100),
    "quotes-1000": ("quotes", 1000),
    "chat-100": ("chat", 100),
    "chat-500": ("chat", 500),
    "chat-1000": ("chat", 1000),
}
WORKLOADS = [*FANOUT, "memory", "handshakes"]
#: The issue's targets: wslab / conventional, deliveries/s at p99 < 50 ms.
TARGETS = {
    "quotes-100": 3.0,
    "quotes-1000": 2.0,
    "chat-100": 1.5,
    "chat-500": 2.0,
    "chat-1000": 2.0,
}
#: The most memory an idle connection may cost the gateway at 10,000 connections.
MEMORY_TARGET_KIB = 20.0
#: Seconds between two batches of the publishers.
TICK = 0.005
SUBSCRIBE = '{"type": "subscribe", "symbols": ["*"]}'
PRIME_TIMEOUT = 60.0


# Fan-out ---------------------------------------------------------------------------------------


@dataclass
class Run:
    """One stack's steps on one workload."""

    workload: str
    server: Server
    steps: list[Step] = field(default_factory=list)
    seconds: float = 0.0
    load: str = ""

    @property
    def summary(self) -> Summary:
        return summarize(self.steps)


class Publisher:
    """Offers messages at a rate: quotes on Redis, or chat lines said by the samples.

    ``in_window`` counts the messages sent inside the current window, which every sample
    should receive.
    """

    def __init__(self, send: Callable[[int], Awaitable[float]]) -> None:
        self.send = send
        self.in_window = 0

    async def offer(self, per_second: float, window: Window) -> None:
        """Send ``per_second`` messages a second until the window ends."""
        start, sent = time.time(), 0
        while (now := time.time()) < window.until:
            due = int((now - start) * per_second) - sent
            if due > 0:
                at = await self.send(due)
                sent += due
                if window.since <= at < window.until:
                    self.in_window += due
            await asyncio.sleep(TICK)


def quote_sender(client: Redis, server: Server) -> Callable[[int], Awaitable[float]]:
    """Publish quotes, round the symbols, each with the ``ts`` of its batch."""
    cycle = itertools.cycle(
        (server.quote_channel(symbol), head) for symbol, head in quote_templates(600)
    )

    async def send(count: int) -> float:
        now = time.time()
        stamp = f"{now!r}}}"
        async with client.pipeline(transaction=False) as pipe:
            for channel, head in itertools.islice(cycle, count):
                pipe.publish(channel, head + stamp)
            await pipe.execute()
        return now

    return send


def quote_templates(count: int) -> list[tuple[str, str]]:
    """``count`` quotes of the simulated market, each as its symbol and its JSON text up to
    its ``ts``, which the publisher appends."""
    market = Market(STOCKS, seed=2010)
    seqs = dict.fromkeys(market.stocks, 0)
    templates = []
    for _ in range(count):
        symbol, price = market.tick()
        seqs[symbol] += 1
        text = encode(quote(Quote.of(market.stocks[symbol], price, seqs[symbol], 0.0)))
        head, found, _ = text.rpartition('"ts": ')
        assert found, text
        templates.append((symbol, head + found))
    return templates


def line_sender(senders: Sequence[loadgen.Peer], room: str) -> Callable[[int], Awaitable[float]]:
    """Say chat lines carrying their send time, from each sender in turn."""
    cycle = itertools.cycle(senders)

    async def send(count: int) -> float:
        now = time.time()
        for peer in itertools.islice(cycle, count):
            text = f"{LINE_PREFIX}{time.time()!r}"
            peer.send(json.dumps({"type": "say", "room": room, "text": text}))
        return now

    return send


async def measure_step(
    peers: Sequence[loadgen.Peer],
    samples: Sequence[loadgen.Peer],
    publisher: Publisher,
    offered: float,
    receivers: int,
    live: Running,
    args: argparse.Namespace,
) -> Step:
    """Hold ``offered`` deliveries/s for a step; return what came of it."""
    since = time.time() + args.warm
    window = Window(since, since + args.measure)
    for sample in samples:
        sample.window = window
    publisher.in_window = 0
    offer = asyncio.create_task(publisher.offer(offered / receivers, window))
    await asyncio.sleep(max(0.0, since - time.time()))
    ours = (os.getpid(), *live.helpers)
    conflated = await conflations(live)
    first, cpu, jiffies = loadgen.frames(peers), cpu_time(live.pid), core_times()
    helpers = sum(cpu_time(pid) for pid in ours)
    await asyncio.sleep(max(0.0, window.until - time.time()))
    last, cpu, cores = loadgen.frames(peers), cpu_time(live.pid) - cpu, busy(jiffies, core_times())
    helpers = sum(cpu_time(pid) for pid in ours) - helpers
    await offer
    await loadgen.quiet(peers, still=0.5)
    conflated = await conflations(live) - conflated
    for sample in samples:
        sample.window = None
    expected = publisher.in_window * len(samples)
    histogram = window.latency
    lost = expected - histogram.count
    p99 = histogram.percentile(0.99) if lost <= 0.01 * expected else math.inf
    delivered = (last - first) / args.measure
    return Step(
        offered,
        delivered,
        p99,
        histogram.percentile(0.5),
        server_cpu=cpu / args.measure,
        cores=cores,
        foreign=foreign(cores, cpu / args.measure, helpers / args.measure),
        conflated=conflated / args.measure,
    )


async def conflations(live: Running) -> int:
    """wslab's count of conflated messages so far (0 for the conventional app)."""
    if live.server.stack != "wslab":
        return 0
    return await metric(live.port, "wslab_conflated_messages_total")


def foreign(cores: tuple[float, ...], server: float, helpers: float) -> tuple[float, ...]:
    """What other processes took of each core: its busy share less the benchmark's own."""
    mine = {SERVER_CORE: server, OTHER_CORE: helpers}
    return tuple(max(0.0, busy - mine.get(core, 0.0)) for core, busy in enumerate(cores))


async def steady_step(
    peers: Sequence[loadgen.Peer],
    samples: Sequence[loadgen.Peer],
    publisher: Publisher,
    offered: float,
    receivers: int,
    live: Running,
    args: argparse.Namespace,
) -> Step:
    """:func:`measure_step`, again while other processes took more than ``--foreign`` of
    a core, ``--retries`` times at most, waiting a little longer each time; then the
    least disturbed of the tries."""
    tries: list[Step] = []
    while True:
        step = await measure_step(peers, samples, publisher, offered, receivers, live, args)
        tries.append(step)
        if max(step.foreign, default=0.0) <= args.foreign or len(tries) > args.retries:
            break
        print(f"  disturbed, again: {format_step(step)}", flush=True)
        await asyncio.sleep(1.0 + len(tries))
    calmest = min(tries, key=lambda step: max(step.foreign, default=0.0))
    return dataclasses.replace(calmest, tries=len(tries))


async def prime(
    peers: Sequence[loadgen.Peer], probe: Callable[[], Awaitable[object]], needed: int
) -> None:
    """Send probes until every peer received ``needed`` frames of one probe round: the
    server subscribed everywhere, so that no step starts with a connection deaf."""
    heard = 0
    try:
        async with asyncio.timeout(PRIME_TIMEOUT):
            while True:
                await loadgen.quiet(peers, still=0.5)
                before = [peer.frames for peer in peers]
                await probe()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(5.0):
                        while heard < len(peers):
                            await asyncio.sleep(0.05)
                            heard = sum(
                                peer.frames - first >= needed
                                for peer, first in zip(peers, before, strict=True)
                            )
                if heard == len(peers):
                    return
    except TimeoutError:
        msg = f"only {heard} of {len(peers)} connections heard the probes"
        raise RuntimeError(msg) from None


async def run_fanout(
    server: Server, workload: str, args: argparse.Namespace, log: IO[bytes]
) -> Run:
    """One stack, one fan-out workload: every step of the search."""
    kind, receivers = FANOUT[workload]
    result = Run(workload, server, load=load_average())
    began = time.monotonic()
    opened: list[loadgen.Peer] = []
    samples = min(args.samples, receivers)
    async with running(server, log) as live, Redis.from_url(live.redis_url) as client:
        try:
            if kind == "quotes":
                resources = ["/stocks"] * receivers
                peers = await loadgen.open_peers(
                    "127.0.0.1",
                    live.port,
                    resources,
                    b'"subscribed"',
                    samples=samples,
                    opened=opened,
                    first=SUBSCRIBE,
                )
                send = quote_sender(client, server)
                await wait_all(peers, "subscribed")
                await prime(peers, lambda: send(60), 60)
            else:
                room = f"side-{os.getpid()}-{live.port}"
                resources = [f"/chat?nick=m{n}&room={room}" for n in range(receivers)]
                peers = await loadgen.open_peers(
                    "127.0.0.1",
                    live.port,
                    resources,
                    b'"members"',
                    samples=samples,
                    opened=opened,
                )
                send = line_sender(peers[:samples], room)
                await wait_all(peers, "in the room")
                await prime(peers, lambda: send(1), 1)
            publisher = Publisher(send)
            steps = search(args.start)
            rate, overload = next(steps)
            while True:
                step = await steady_step(
                    peers, peers[:samples], publisher, rate, receivers, live, args
                )
                step = dataclasses.replace(step, overload=overload)
                result.steps.append(step)
                print(f"  {format_step(step)}", flush=True)
                try:
                    rate, overload = steps.send(step)
                except StopIteration:
                    break
        finally:
            for peer in opened:
                peer.abort()
    result.seconds = time.monotonic() - began
    return result


async def wait_all(peers: Sequence[loadgen.Peer], what: str) -> None:
    try:
        # The chat service welcomes each member with the members so far: joining takes
        # a while in a large room.
        async with asyncio.timeout(PRIME_TIMEOUT + 0.1 * len(peers)):
            await asyncio.gather(*(peer.ready for peer in peers))
    except TimeoutError:
        ready = sum(peer.ready.done() for peer in peers)
        raise RuntimeError(f"only {ready} of {len(peers)} connections {what}") from None


def format_step(step: Step) -> str:
    p99 = "lost" if math.isinf(step.p99) else f"{step.p99 * 1e3:7.1f} ms"
    mark = "overload" if step.overload else ("pass" if step.passed() else "fail")
    return (
        f"offered {step.offered:>10,.0f}/s  delivered {step.delivered:>10,.0f}/s  "
        f"p50 {step.p50 * 1e3:6.1f} ms  p99 {p99:>10}  {mark:8}  server CPU "
        f"{step.server_cpu:4.0%}, cores busy {' '.join(f'{c:.0%}' for c in step.cores)}"
        f" (others {' '.join(f'{c:.0%}' for c in step.foreign)})"
        + (f", conflated {step.conflated:,.0f}/s" if step.conflated else "")
    )


# Memory and handshakes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryResult:
    server: Server
    protocol: str
    connections: int
    baseline: int  # VmRSS, bytes
    idle: int

    @property
    def per_connection(self) -> float:
        return (self.idle - self.baseline) / self.connections


async def open_idle(
    live: Running, protocol: str, count: int, query: str, opened: list[Any]
) -> None:
    """Open ``count`` idle connections to ``/stocks`` in ``protocol``."""
    if protocol == "draft":
        semaphore = asyncio.Semaphore(loadgen.CONCURRENCY)

        async def open_one() -> None:
            async with semaphore:
                url = f"ws://127.0.0.1:{live.port}/stocks?{query}"
                opened.append(await draft_connect(url, proxy=None))

        await asyncio.gather(*(open_one() for _ in range(count)))
    else:
        resources = [f"/stocks?{query}"] * count
        await loadgen.open_peers("127.0.0.1", live.port, resources, None, samples=0, opened=opened)


async def run_memory(
    server: Server, protocol: str, args: argparse.Namespace, log: IO[bytes]
) -> MemoryResult:
    n, warmup = args.memory_connections, 20
    opened: list[Any] = []
    async with running(server, log) as live:
        try:
            await open_idle(live, protocol, warmup, "warmup", opened)
            if server.stack == "wslab":
                await wait_open(live.port, protocol, warmup)
            await asyncio.sleep(2.0)
            baseline = memory(live.pid).rss
            await open_idle(live, protocol, n, "measured", opened)
            if server.stack == "wslab":
                await wait_open(live.port, protocol, warmup + n)
            await asyncio.sleep(2.0)
            idle = memory(live.pid).rss
        finally:
            for peer in opened:
                peer.abort()
    return MemoryResult(server, protocol, n, baseline, idle)


@dataclass(frozen=True)
class HandshakeResult:
    server: Server
    connections: int
    seconds: float
    cpu: float
    draft: str  # whether a draft client is served: "yes", "no" or "-"

    @property
    def rate(self) -> float:
        return self.connections / self.seconds


async def run_handshakes(
    server: Server, args: argparse.Namespace, log: IO[bytes]
) -> HandshakeResult:
    n = args.handshakes
    opened: list[Any] = []
    async with running(server, log) as live:
        try:
            resources = ["/stocks"] * 50
            await loadgen.open_peers("127.0.0.1", live.port, resources, None, samples=0, opened=[])
            before, began = cpu_time(live.pid), time.monotonic()
            resources = ["/stocks"] * n
            await loadgen.open_peers(
                "127.0.0.1", live.port, resources, None, samples=0, opened=opened
            )
            seconds, cpu = time.monotonic() - began, cpu_time(live.pid) - before
            draft = "-"
            if server.stack == "wslab":
                draft = "yes" if await draft_served(live, opened) else "no"
        finally:
            for peer in opened:
                peer.abort()
    return HandshakeResult(server, n, seconds, cpu, draft)


async def draft_served(live: Running, opened: list[Any]) -> bool:
    """Whether a draft client can subscribe to quotes and hear back."""
    try:
        async with asyncio.timeout(10):
            peer: DraftConnection = await draft_connect(
                f"ws://127.0.0.1:{live.port}/stocks", proxy=None
            )
            opened.append(peer)
            await peer.send(SUBSCRIBE)
            return "subscribed" in str(await peer.recv())
    except Exception:
        return False


# Report ----------------------------------------------------------------------------------------


def rate_cell(run: Run | None) -> str:
    if run is None:
        return "-"
    return f"{run.summary.best:,.0f}"


def throughput_table(runs: Sequence[Run]) -> list[str]:
    rows = []
    for workload in FANOUT:
        found = {(r.server.stack, r.server.loop): r for r in runs if r.workload == workload}
        loops = sorted({loop for _, loop in found}, reverse=True)
        for loop in loops:
            wslab, conventional = found.get(("wslab", loop)), found.get(("conventional", loop))
            ratio = "-"
            target = TARGETS[workload]
            met = "-"
            if wslab and conventional and conventional.summary.best:
                value = wslab.summary.best / conventional.summary.best
                ratio, met = f"{value:.2f}", "yes" if value >= target else "no"
            rows.append(
                [
                    workload,
                    loop,
                    rate_cell(wslab),
                    rate_cell(conventional),
                    ratio,
                    f"{target:g}",
                    met,
                ]
            )
    columns = ["workload", "loop", "wslab", "conventional", "ratio", "target", "met"]
    return markdown_table(columns, rows)


def steps_table(run: Run) -> list[str]:
    rows = []
    summary = run.summary
    for step in sorted(run.steps, key=lambda s: s.offered):
        p99 = "lost" if math.isinf(step.p99) else f"{step.p99 * 1e3:.1f}"
        mark = "overload" if step.overload else ("pass" if step.passed() else "fail")
        of_peak = f"{share(step, summary.peak):.2f}" if summary.peak else "-"
        times = f"{step.offered / summary.saturation:.2f}" if summary.saturation else "-"
        rows.append(
            [
                f"{step.offered:,.0f}",
                times,
                f"{step.delivered:,.0f}",
                of_peak,
                f"{step.p50 * 1e3:.1f}",
                p99,
                mark,
                f"{step.server_cpu:.0%}",
                " / ".join(f"{core:.0%}" for core in step.cores),
            ]
        )
    columns = ["offered/s", "x saturation", "delivered/s", "of possible", "p50 ms", "p99 ms"]
    columns += ["step", "server CPU", "cores busy"]
    return markdown_table(columns, rows)


def overload_table(runs: Sequence[Run]) -> list[str]:
    rows = []
    for run in runs:
        summary = run.summary
        cells = [f"{share:.2f} at {times:.1f}x" for times, share in summary.overload]
        rows.append(
            [
                f"{run.workload}, {run.server.label}",
                f"{summary.best:,.0f}",
                f"{summary.peak:,.0f}",
                ", ".join(cells) or "-",
            ]
        )
    columns = ["run", "at p99 < 50 ms", "peak delivered/s", "past saturation: share of possible"]
    return markdown_table(columns, rows)


def memory_table(results: Sequence[MemoryResult]) -> list[str]:
    conventional = next((r for r in results if r.server.stack == "conventional"), None)
    rows = []
    for result in results:
        per = result.per_connection / KIB
        ratio = (
            f"{result.per_connection / conventional.per_connection:.2f}"
            if conventional and conventional.per_connection
            else "-"
        )
        target = (
            "-" if result.server.stack != "wslab" else ("yes" if per <= MEMORY_TARGET_KIB else "no")
        )
        rows.append(
            [
                result.server.label,
                result.protocol,
                f"{result.connections:,}",
                f"{result.baseline / MIB:.1f}",
                f"{result.idle / MIB:.1f}",
                f"{per:.1f}",
                ratio,
                target,
            ]
        )
    columns = [
        "server",
        "protocol",
        "N",
        "baseline MiB",
        "idle MiB",
        "KiB/conn",
        "vs conventional",
        "<= 20 KiB",
    ]
    return markdown_table(columns, rows)


def handshake_table(results: Sequence[HandshakeResult]) -> list[str]:
    rows = [
        [
            r.server.label,
            f"{r.connections:,}",
            f"{r.rate:,.0f}",
            f"{r.cpu / r.connections * 1e6:.0f}",
            r.draft,
        ]
        for r in results
    ]
    columns = ["server", "handshakes", "per second", "server CPU µs each", "draft served"]
    return markdown_table(columns, rows)


# Main ------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated")
    parser.add_argument("--stacks", default="wslab,conventional", help="comma-separated")
    parser.add_argument("--loops", default="uvloop", help="uvloop, asyncio or both")
    parser.add_argument("--samples", type=int, default=10, help="connections timing latency")
    parser.add_argument("--start", type=float, default=20_000, help="first offered rate")
    parser.add_argument("--warm", type=float, default=0.5, help="seconds before measuring")
    parser.add_argument("--measure", type=float, default=2.0, help="seconds measured per step")
    parser.add_argument("--memory-connections", type=int, default=10_000)
    parser.add_argument("--handshakes", type=int, default=3000)
    parser.add_argument(
        "--foreign",
        type=float,
        default=0.2,
        help="measure a step again if other processes took more of a core than this share",
    )
    parser.add_argument("--retries", type=int, default=3, help="times a step is measured again")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run everything at this niceness (negative, as root: less disturbed by others)",
    )
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args(argv)
    for name in ("workloads", "stacks", "loops"):
        setattr(args, name, [part for part in getattr(args, name).split(",") if part])
    unknown = set(args.workloads) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    return args


async def run(args: argparse.Namespace) -> dict[str, Any]:
    runs: list[Run] = []
    memories: list[MemoryResult] = []
    handshakes: list[HandshakeResult] = []
    with tempfile.TemporaryFile() as log:
        for workload in [w for w in args.workloads if w in FANOUT]:
            for loop in args.loops:
                for stack in args.stacks:
                    server = Server(stack, loop)
                    print(f"{workload}, {server.label} (load {load_average()}):", flush=True)
                    try:
                        runs.append(await run_fanout(server, workload, args, log))
                    except (RuntimeError, OSError) as exc:  # Reported; the other runs go on.
                        print(f"  failed: {exc}", flush=True)
        if "memory" in args.workloads:
            for stack in args.stacks:
                protocols = ["rfc6455", "draft"] if stack == "wslab" else ["rfc6455"]
                for protocol in protocols:
                    server = Server(stack, args.loops[0])
                    memories.append(await run_memory(server, protocol, args, log))
                    print(f"memory, {server.label}, {protocol}: done", flush=True)
        if "handshakes" in args.workloads:
            for stack in args.stacks:
                for http in ("h11", "httptools"):
                    server = Server(stack, args.loops[0], http)
                    handshakes.append(await run_handshakes(server, args, log))
                    print(f"handshakes, {server.label}: done", flush=True)
    print_report(runs, memories, handshakes)
    return {
        "runs": [
            {
                "workload": r.workload,
                "server": r.server.label,
                "load": r.load,
                "seconds": round(r.seconds, 1),
                "steps": [asdict(s) for s in r.steps],
                "summary": asdict(r.summary),
            }
            for r in runs
        ],
        "memory": [asdict(m) | {"server": m.server.label} for m in memories],
        "handshakes": [asdict(h) | {"server": h.server.label} for h in handshakes],
    }


def print_report(
    runs: Sequence[Run], memories: Sequence[MemoryResult], handshakes: Sequence[HandshakeResult]
) -> None:
    if runs:
        print(f"\nDeliveries/s at p99 < {P99_LIMIT * 1e3:.0f} ms (ratio = wslab / conventional):\n")
        print("\n".join(throughput_table(runs)))
        print(
            "\nPast saturation (overload steps: delivered as a share of the peak, or of the"
            " offered rate if lower):\n"
        )
        print("\n".join(overload_table(runs)))
        for result in runs:
            print(
                f"\n{result.workload}, {result.server.label}, {result.seconds:.0f} s, "
                f"load at start {result.load}:\n"
            )
            print("\n".join(steps_table(result)))
    if memories:
        print("\nMemory per idle connection (VmRSS):\n")
        print("\n".join(memory_table(memories)))
    if handshakes:
        print("\nOpening handshakes, 50 at a time, to /stocks:\n")
        print("\n".join(handshake_table(handshakes)))


def interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM as Ctrl-C: the runs end and stop what they started."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, interrupt)
    os.sched_setaffinity(0, {OTHER_CORE})  # Redis and the services inherit it.
    if args.nice:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)  # So do they this.
    files = raise_open_files(args.memory_connections + 2_000)
    print(f"Command:  {shlex.join(['python', 'benchmarks/side_by_side.py', *sys.argv[1:]])}")
    print(f"Machine:  {cpu_model()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(
        f"Python:   {platform.python_version()}; uvicorn {uvicorn.__version__}, "
        f"websockets {importlib.metadata.version('websockets')}, "
        f"fastapi {importlib.metadata.version('fastapi')}, redis-py {redis.__version__}, "
        f"uvloop {version('uvloop')}, httptools {version('httptools')}"
    )
    print(
        f"Pinning:  servers on CPU 0; Redis, services, load generator on CPU {OTHER_CORE}; "
        f"niceness {os.getpriority(os.PRIO_PROCESS, 0)}"
    )
    print(f"Load avg: {load_average()}; RLIMIT_NOFILE {files}", flush=True)
    began = time.monotonic()
    try:
        import uvloop

        results = uvloop.run(run(args))
    except ImportError:
        results = asyncio.run(run(args))
    print(f"\nLoad avg at the end: {load_average()}; {time.monotonic() - began:.0f} s in all")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=1, default=str)
    return 0


def version(name: str) -> str:
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        return importlib.metadata.version(name)
    return "not installed"


if __name__ == "__main__":
    sys.exit(main())
