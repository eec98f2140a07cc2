"""Idle connections and permessage-deflate: what a connection costs the gateway, and deflate.

Usage, from the repository root (Linux: it reads /proc; about a minute at the default)::

    python benchmarks/idle_memory.py                      # 2,000 connections per run
    python benchmarks/idle_memory.py --connections 5000
    python benchmarks/idle_memory.py --redis-url redis://localhost:6379/0
    python benchmarks/idle_memory.py --tracemalloc        # where the gateway's bytes go

What is measured
================

1. **The gateway's memory per connection**, for each protocol it serves. A fresh
   ``python -m gateway`` per protocol (one process per protocol, so that neither protocol's
   freed memory is reused by the other's), pinned to one core. This process, pinned to
   another core with Redis, opens ``--warmup-connections`` connections to ``--path`` (they
   warm up whatever the first connections initialise lazily, and stay open), waits until the
   gateway's ``wslab_open_connections{protocol=...}`` counts them and ``--settle`` seconds
   more, and reads the gateway's memory: the baseline. Then it opens ``--connections`` more
   (N) and reads it again, the same way. The figure is the difference divided by N: the
   marginal cost of one more idle connection. Memory is the resident set of
   ``/proc/<pid>/status``: ``VmRSS``, and ``RssAnon``, its anonymous part (the heap; the
   rest is mapped files, which connections do not grow).

   Draft connections come from the project's ``client`` library, RFC 6455 ones from
   websockets' client with ``compression=None`` (the gateway offers no extension) and no
   keepalive pings, as the draft client sends none. Nothing is sent on an idle connection:
   a stand-in for the route's service (a Redis subscriber in this process) receives the
   gateway's ``open`` envelopes and answers nothing, as the stock service does until a
   client asks for something. Without it, the gateway would answer each connection with an
   ``unavailable`` error.

   Connections are opened ``CONCURRENCY`` (50) at a time, each group once the stand-in has
   heard the previous group's ``open`` envelopes, and the run fails if the gateway's
   ``wslab_undelivered_total`` is not 0: with more publishes in flight than redis-py's
   connection pool holds (100 by default), the gateway answers ``bus_down``.

   Then the same N connections are made to work, as a ``/stocks`` client would: each sends
   one message (a subscription request), the stand-in subscribes each to one topic (with
   ``conflate``, as the stock service subscribes), and ``--snapshots`` ``snapshot`` messages
   of the 60 symbols' quotes (about 6.5 KB each) are published on it, one at a time, each
   once every client received the previous one. Memory is read again, ``--settle`` seconds
   after the last one: the cost of a connection that has carried about 100 KB. The
   gateway's CPU time over those messages (``/proc/<pid>/stat``, 10 ms resolution), per
   delivery, is printed too. Finally the N connections close, and the memory left is read:
   what the process keeps of them once they are gone.

2. **permessage-deflate's memory**, as a reference in the same run: a plain websockets
   server (``websockets.asyncio.server.serve``, a handler that reads until the connection
   closes, no keepalive pings) in a process of its own per configuration, pinned to the
   gateway's core, measured the same way (warm-up connections, N idle, then N after the
   same messages, sent with ``websockets.asyncio.server.broadcast``):

   * ``compression=None``;
   * ``compression="deflate"``: websockets' default settings, 12-bit windows both ways
     and ``memLevel=5``;
   * zlib's default settings (15-bit windows, ``memLevel=8``), what a server that does not
     tune deflate down negotiates with browsers.

   Each client offers deflate (``compression="deflate"``) when the server does. zlib
   allocates a connection's deflate state when the extension is negotiated, but the
   kernel only backs the pages written: an idle connection's figure shows what the opening
   handshake touched, the figure after the messages what a working connection costs.

3. **permessage-deflate's bandwidth and CPU**, in this process: ``--quotes`` consecutive
   ``quote`` messages as a client subscribed to every symbol receives them (the JSON text
   of ``stock_service``, from ``Market(seed=2010)`` ticking at the service's default rate,
   with the feed's per-batch ``ts``), and chat ``message`` events (``chat_service``'s JSON,
   with a few nicknames and, as texts, every sentence of the prose of README.md and docs/,
   PERFORMANCE.md excepted, once each, in order). For each stream: the bytes on the wire per
   message (frame header included) as the gateway frames it for each protocol, then with
   permessage-deflate as websockets' ``PerMessageDeflate`` extension compresses for one
   connection: raw deflate with context takeover, a sync flush per message, minus the 4
   trailing bytes (checked against ``zlib`` directly), with zlib's and with websockets'
   settings, and without context takeover (each message compressed alone: the only way
   the same compressed frame could go to every connection). And the CPU time per message:
   to frame it (the gateway does it once per protocol, whatever the number of clients), and
   to compress it (once per client, with context takeover).

Everything runs on loopback. Redis is the server of ``--redis-url`` if given, else a
``redis-server`` (``apt-get install redis-server``) started on a free port with persistence
off; it, the gateway and the reference servers are ended at the end in any case.
``RLIMIT_NOFILE`` is raised as the connections need, for this process and the servers it
starts.

``--tracemalloc`` runs only the gateway's idle measurement, with the gateway started under
``tracemalloc`` (25 frames), and prints the allocation sites that grew with the N
connections, in bytes per connection. Its memory figures include tracemalloc's own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import math
import os
import platform
import random
import re
import shlex
import shutil
import signal
import sys
import tempfile
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

import redis
import uvicorn
from machine import cpu_model, load_average
from processes import (
    KIB,
    MIB,
    ROOT,
    TIMEOUT,
    Memory,
    cpu_time,
    free_port,
    gateway_env,
    memory,
    metric,
    pin,
    raise_open_files,
    redis_server,
    started,
    tail,
    wait_open,
    wait_ready,
)
from redis.asyncio import Redis
from report import markdown_table
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as rfc6455_connect
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed as RFC6455Closed
from websockets.extensions.base import ServerExtensionFactory
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode

from bus import (
    Entry,
    Envelope,
    StreamReader,
    Subscribe,
    command_channel,
    encode_command,
    service_replicas,
    service_stream,
    topic_channel,
)
from chat_service.messages import room_event
from client import Connection as DraftConnection
from client import ConnectionClosed as DraftClosed
from client import connect as draft_connect
from gateway import Settings
from gateway.draft import draft_framing
from gateway.rfc6455 import RFC6455Wire
from servicekit import encode
from stock_service import STOCKS, Market, Quote, StockSettings
from stock_service.messages import quote, snapshot
from wsdraft import Limits

#: Handshakes, or requests, in flight at once. The gateway once answered "bus_down" past
#: about 100 at once (one pooled Redis connection per publish; bus.Publisher batches now);
#: the run still checks wslab_undelivered_total.
CONCURRENCY = 50
SEED = 2010
#: The Unix time the simulated messages start at (2026-01-01T00:00Z): as many digits as now.
T0 = 1_767_225_600.0
#: The topic the working connections are subscribed to.
TOPIC = "bench.snapshots"
#: What each working connection sends first, as a /stocks client asks for every symbol.
REQUEST = '{"type": "subscribe", "symbols": ["*"]}'
#: The query strings that tell the measured connections from the warm-up ones.
MEASURED, WARMUP = "bench=measured", "bench=warmup"
#: The environment variable naming the file where a traced gateway writes its report.
TRACE_ENV = "WSLAB_BENCH_TRACEMALLOC"
TRACE_FRAMES = 25
US = 1e6


# The messages --------------------------------------------------------------------------------


def quotes(count: int) -> Iterator[Quote]:
    """The first ``count`` quotes of ``Market(seed=2010)``, as the feed numbers and dates them.

    The market ticks at the stock service's default rate, and each quote has the ``ts`` of
    the batch it would be published in: the batch's due time plus up to 2 ms, as the feed
    reads the clock when it builds the batch.
    """
    settings = StockSettings()
    market = Market(STOCKS, seed=SEED)
    jitter = random.Random(SEED)
    seqs = dict.fromkeys(market.stocks, 0)
    ticks_per_batch = settings.tick_rate * settings.publish_interval
    batch, ts = -1, T0
    for n in range(count):
        due = math.ceil(n / ticks_per_batch - 1e-9)
        if due != batch:
            batch = due
            ts = T0 + due * settings.publish_interval + jitter.uniform(0.0002, 0.002)
        symbol, price = market.tick()
        seqs[symbol] += 1
        yield Quote.of(market.stocks[symbol], price, seqs[symbol], ts)


def quote_texts(count: int) -> list[str]:
    """``count`` consecutive ``quote`` messages, as a client subscribed to all symbols gets them."""
    return [encode(quote(q)) for q in quotes(count)]


def snapshot_texts(count: int, ticks_between: int = 300) -> list[str]:
    """``count`` ``snapshot`` messages of every symbol, ``ticks_between`` ticks apart."""
    latest = {stock.symbol: Quote.of(stock, stock.price, 0, T0) for stock in STOCKS}
    texts = []
    stream = quotes(count * ticks_between)
    for _ in range(count):
        for q in (next(stream) for _ in range(ticks_between)):
            latest[q.symbol] = q
        texts.append(encode(snapshot(latest.values())))
    return texts


def chat_sentences() -> list[str]:
    """The sentences of the prose of README.md and docs/*.md (PERFORMANCE.md excepted)."""
    docs = sorted(path for path in (ROOT / "docs").glob("*.md") if path.name != "PERFORMANCE.md")
    files = [ROOT / "README.md", *docs]
    sentences = []
    for path in files:
        paragraphs: list[str] = []
        lines: list[str] = []
        fenced = False
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("```"):
                fenced = not fenced
                continue
            if fenced or not line.strip() or line.lstrip().startswith(("#", "|", ">")):
                if lines:
                    paragraphs.append(" ".join(lines))
                    lines = []
                continue
            lines.append(line.strip().removeprefix("- ").removeprefix("* "))
        if lines:
            paragraphs.append(" ".join(lines))
        for paragraph in paragraphs:
            text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", paragraph)  # links: their text
            text = text.replace("`", "").replace("**", "")
            sentences += [
                s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if 8 <= len(s.strip()) <= 200
            ]
    return sentences


def chat_texts(limit: int) -> list[str]:
    """Chat ``message`` events in one room: a few people saying each docs sentence once."""
    rng = random.Random(SEED)
    nicks = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
    texts = []
    ts = T0
    for seq, sentence in enumerate(chat_sentences()[:limit], 1):
        ts += rng.expovariate(1 / 3.0)
        event = room_event(
            "message", room="lobby", nick=rng.choice(nicks), text=sentence, seq=seq, ts=ts
        )
        texts.append(encode(event))
    return texts


# Processes -----------------------------------------------------------------------------------


# Clients -------------------------------------------------------------------------------------


class Peer:
    """One client connection, counting what it receives; see the subclasses."""

    def __init__(self) -> None:
        self.received = 0
        self.received_bytes = 0

    def count(self, message: str | bytes) -> None:
        self.received += 1
        self.received_bytes += len(message)

    async def send(self, text: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


class DraftPeer(Peer):
    """A draft connection of the ``client`` library."""

    def __init__(self, connection: DraftConnection) -> None:
        super().__init__()
        self.connection = connection
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(DraftClosed, OSError):
            async for message in self.connection:
                self.count(message)

    async def send(self, text: str) -> None:
        await self.connection.send(text)

    async def close(self) -> None:
        await self.connection.close()
        await self.reader

    def abort(self) -> None:
        self.connection.abort()
        self.reader.cancel()


class RFC6455Peer(Peer):
    """An RFC 6455 connection of websockets' client."""

    def __init__(self, connection: ClientConnection) -> None:
        super().__init__()
        self.connection = connection
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(RFC6455Closed, OSError):
            async for message in self.connection:
                self.count(message)

    async def send(self, text: str) -> None:
        await self.connection.send(text)

    async def close(self) -> None:
        await self.connection.close()
        await self.reader

    def abort(self) -> None:
        self.connection.transport.abort()
        self.reader.cancel()


Opener = Callable[[str], Awaitable[Peer]]


def draft_opener(base: str) -> Opener:
    """Opens draft connections to ``base`` + a query string."""

    async def open_peer(query: str) -> Peer:
        return DraftPeer(await draft_connect(f"{base}?{query}", proxy=None))

    return open_peer


def rfc6455_opener(base: str, *, deflate: bool = False) -> Opener:
    """Opens RFC 6455 connections to ``base`` + a query string, offering deflate or not."""

    async def open_peer(query: str) -> Peer:
        connection = await rfc6455_connect(
            f"{base}?{query}",
            compression="deflate" if deflate else None,
            ping_interval=None,
            open_timeout=TIMEOUT,
            max_size=None,
        )
        return RFC6455Peer(connection)

    return open_peer


async def open_peers(opener: Opener, query: str, count: int, opened: list[Peer]) -> list[Peer]:
    """Open ``count`` connections, ``CONCURRENCY`` at a time; each is added to ``opened`` too."""
    semaphore = asyncio.Semaphore(CONCURRENCY)
    peers: list[Peer] = []

    async def open_one() -> None:
        async with semaphore:
            peer = await opener(query)
        peers.append(peer)
        opened.append(peer)

    async with asyncio.timeout(TIMEOUT + count / 50):
        await asyncio.gather(*(open_one() for _ in range(count)))
    return peers


async def close_peers(peers: Sequence[Peer]) -> None:
    """Close ``peers`` with a closing handshake, ``CONCURRENCY`` at a time."""
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def close_one(peer: Peer) -> None:
        async with semaphore:
            await peer.close()

    async with asyncio.timeout(TIMEOUT + len(peers) / 50):
        await asyncio.gather(*(close_one(peer) for peer in peers))


async def wait_received(peers: Sequence[Peer], count: int) -> None:
    """Wait until every peer has received ``count`` messages."""
    async with asyncio.timeout(TIMEOUT):
        while any(peer.received < count for peer in peers):
            await asyncio.sleep(0.005)


# The gateway ---------------------------------------------------------------------------------


class StandIn:
    """The route's service, as far as idle connections go: it listens and answers nothing.

    It records the ``open`` envelopes of the measured connections and counts their messages,
    and subscribes them to a topic when told to.
    """

    def __init__(self, client: Redis, service: str) -> None:
        self.client = client
        self.service = service
        self.measured: list[Envelope] = []
        self.opens = 0
        self.messages = 0
        self.task: asyncio.Task[None] | None = None
        self.reader = StreamReader(client, service_stream(service), self._read)

    async def _read(self, batch: list[Entry]) -> None:
        for _, fields in batch:
            envelope = Envelope.decode(fields[b"envelope"])
            self.opens += envelope.kind == "open"
            if envelope.query != MEASURED:
                continue
            if envelope.kind == "open":
                self.measured.append(envelope)
            elif envelope.kind == "message":
                self.messages += 1

    async def open_peers(
        self, opener: Opener, query: str, count: int, opened: list[Peer]
    ) -> list[Peer]:
        """Open connections through the gateway, ``CONCURRENCY`` at a time, each group once
        the gateway published the previous one's ``open`` envelopes (see CONCURRENCY)."""
        peers: list[Peer] = []
        for first in range(0, count, CONCURRENCY):
            size = min(CONCURRENCY, count - first)
            target = self.opens + size
            peers += await open_peers(opener, query, size, opened)
            async with asyncio.timeout(TIMEOUT):
                while self.opens < target:
                    await asyncio.sleep(0.005)
        return peers

    async def subscribe_measured(self) -> None:
        """Subscribe every measured connection to TOPIC, with ``conflate``."""
        async with self.client.pipeline(transaction=False) as pipe:
            for envelope in self.measured:
                command = Subscribe(conn=envelope.conn, topic=TOPIC, conflate=True)
                channel = command_channel(envelope.gateway, self.service)
                pipe.publish(channel, encode_command(command))
            await pipe.execute()


@asynccontextmanager
async def stand_in(url: str, service: str) -> AsyncIterator[StandIn]:
    """A :class:`StandIn` for ``service``, listening while the block runs."""
    async with Redis.from_url(url) as client:
        service_stand_in = StandIn(client, service)
        reader = service_stand_in.reader
        task = service_stand_in.task = asyncio.create_task(reader.run())
        # A live replica for the whole run: the gateway appends envelopes only for one.
        await client.zadd(service_replicas(service), {"stand-in": time.time() + 10 * TIMEOUT})
        try:
            async with asyncio.timeout(TIMEOUT):
                while not reader.connected.is_set():
                    if task.done():
                        task.result()
                    await asyncio.sleep(0.01)
            yield service_stand_in
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await client.zrem(service_replicas(service), "stand-in")


async def check_delivered(port: int) -> None:
    """Raise if the gateway could not publish some client's envelope."""
    undelivered = await metric(port, "wslab_undelivered_total")
    if undelivered:
        msg = f"the gateway could not publish {undelivered} envelopes (wslab_undelivered_total)"
        raise RuntimeError(msg)


@dataclass(frozen=True)
class GatewayResult:
    """One protocol's figures, against a gateway of its own."""

    protocol: str
    baseline: Memory
    idle: Memory
    working: Memory | None
    closed: Memory | None
    cpu: float  # seconds, over the working messages
    deliveries: int
    trace: list[str]


async def measure_gateway(
    protocol: str, args: argparse.Namespace, url: str, core: int, log: IO[bytes]
) -> GatewayResult:
    """Measure one protocol's connections against a fresh ``python -m gateway``."""
    n, warmup = args.connections, args.warmup_connections
    port = free_port()
    env = gateway_env(port, url, f"gw-bench-{protocol}")
    env["WSLAB_MAX_CONNECTIONS"] = str(max(10_000, n + warmup + 10))
    command = [sys.executable, "-m", "gateway"]
    trace_dir = Path(tempfile.mkdtemp(prefix="idle-memory-")) if args.tracemalloc else None
    trace_file = Path(trace_dir or ".") / "trace.json"
    if args.tracemalloc:
        command = [sys.executable, __file__, "--role", "traced-gateway"]
        env[TRACE_ENV] = str(trace_file)
    service = Settings().route_table[args.path]
    base = f"ws://127.0.0.1:{port}{args.path}"
    opener = draft_opener(base) if protocol == "draft" else rfc6455_opener(base)
    opened: list[Peer] = []
    working = closed = None
    cpu, deliveries, trace = 0.0, 0, []
    async with stand_in(url, service) as service_stand_in, started(command, log, env=env) as gw:
        pin(gw.pid, core)
        try:
            await wait_ready(port, gw, log)
            pin(gw.pid, core)  # Any thread started meanwhile.
            await service_stand_in.open_peers(opener, WARMUP, warmup, opened)
            await wait_open(port, protocol, warmup)
            await asyncio.sleep(args.settle)
            baseline = memory(gw.pid)
            if args.tracemalloc:
                trace_file.with_suffix(".started").unlink(missing_ok=True)
                gw.send_signal(signal.SIGUSR1)
                await wait_file(trace_file.with_suffix(".started"))
            measured = await service_stand_in.open_peers(opener, MEASURED, n, opened)
            await wait_open(port, protocol, warmup + n)
            await asyncio.sleep(args.settle)
            idle = memory(gw.pid)
            await check_delivered(port)
            if args.tracemalloc:
                gw.send_signal(signal.SIGUSR2)
                await wait_file(trace_file)
                trace = report_trace(trace_file, n)
            else:
                cpu, deliveries = await work_through_gateway(
                    gw.pid, measured, service_stand_in, args.snapshots
                )
                await asyncio.sleep(args.settle)
                working = memory(gw.pid)
                await check_delivered(port)
                await close_peers(measured)
                await wait_open(port, protocol, warmup)
                await asyncio.sleep(args.settle)
                closed = memory(gw.pid)
        finally:
            for peer in opened:
                peer.abort()
            if trace_dir is not None:
                shutil.rmtree(trace_dir, ignore_errors=True)
    return GatewayResult(protocol, baseline, idle, working, closed, cpu, deliveries, trace)


async def work_through_gateway(
    pid: int, peers: Sequence[Peer], service_stand_in: StandIn, snapshots: int
) -> tuple[float, int]:
    """Each peer asks, is subscribed to TOPIC, then gets ``snapshots`` messages; return the
    gateway's CPU seconds over those messages, and the deliveries."""
    try:
        async with asyncio.timeout(TIMEOUT):
            for sent in range(0, len(peers), CONCURRENCY):
                chunk = peers[sent : sent + CONCURRENCY]
                await asyncio.gather(*(peer.send(REQUEST) for peer in chunk))
                while service_stand_in.messages < sent + len(chunk):
                    await asyncio.sleep(0.005)
            while len(service_stand_in.measured) < len(peers):
                await asyncio.sleep(0.01)
    except TimeoutError:
        msg = (
            f"the stand-in saw {len(service_stand_in.measured)} connections open and "
            f"{service_stand_in.messages} messages, of {len(peers)}"
        )
        if service_stand_in.task is not None and service_stand_in.task.done():
            msg += f"; it stopped: {service_stand_in.task.exception()!r}"
        raise RuntimeError(msg) from None
    await service_stand_in.subscribe_measured()
    client, channel = service_stand_in.client, topic_channel(TOPIC)
    # The subscriptions take effect in the gateway's own time: probe until all are in.
    async with asyncio.timeout(TIMEOUT):
        while any(peer.received == 0 for peer in peers):
            await client.publish(channel, '{"type": "probe"}')
            await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # The last probes' deliveries.
    start = [peer.received for peer in peers]
    texts = snapshot_texts(snapshots)
    cpu = cpu_time(pid)
    for number, text in enumerate(texts, 1):
        await client.publish(channel, text)
        async with asyncio.timeout(TIMEOUT):
            while any(
                peer.received < first + number for peer, first in zip(peers, start, strict=True)
            ):
                await asyncio.sleep(0.005)
    return cpu_time(pid) - cpu, len(peers) * len(texts)


async def wait_file(path: Path) -> None:
    """Wait until ``path`` exists (tracemalloc's snapshots of many connections take a while)."""
    async with asyncio.timeout(10 * TIMEOUT):
        while not path.exists():
            await asyncio.sleep(0.05)


# The traced gateway (--role traced-gateway) ---------------------------------------------------


def traced_gateway() -> None:
    """``python -m gateway`` under tracemalloc: SIGUSR1 takes the baseline snapshot, SIGUSR2
    the second one and writes what grew in between to the file named by TRACE_ENV."""
    import runpy

    out = Path(os.environ[TRACE_ENV])
    tracemalloc.start(TRACE_FRAMES)
    taken: list[tracemalloc.Snapshot] = []
    ignored = [tracemalloc.Filter(False, tracemalloc.__file__)]

    def baseline(signum: int, frame: FrameType | None) -> None:
        taken[:] = [tracemalloc.take_snapshot().filter_traces(ignored)]
        out.with_suffix(".started").touch()

    def report(signum: int, frame: FrameType | None) -> None:
        after = tracemalloc.take_snapshot().filter_traces(ignored)
        grown: dict[str, Any] = {}
        for key in ("filename", "lineno", "traceback"):
            stats = after.compare_to(taken[0], key)
            grown[key] = [
                [stat.size_diff, stat.count_diff, [str(frame) for frame in stat.traceback]]
                for stat in stats[:40]
            ]
            grown["total"] = [sum(s.size_diff for s in stats), sum(s.count_diff for s in stats)]
        partial = out.with_suffix(".partial")
        partial.write_text(json.dumps(grown))
        partial.rename(out)

    signal.signal(signal.SIGUSR1, baseline)
    signal.signal(signal.SIGUSR2, report)
    sys.argv = ["python -m gateway"]
    runpy.run_module("gateway", run_name="__main__", alter_sys=True)


def report_trace(path: Path, n: int) -> list[str]:
    """The traced gateway's report, per connection."""
    grown = json.loads(path.read_text())
    size, count = grown["total"]
    lines = [
        f"Traced memory grown: {size / n:,.0f} B in {count / n:,.1f} blocks per connection.",
        "By file (bytes and blocks per connection; the file that allocated):",
    ]
    for size, count, frames in grown["filename"][:30]:
        lines.append(f"  {size / n:8.1f} B {count / n:6.2f}  {frames[0].rpartition(':')[0]}")
    lines.append("By line:")
    for size, count, frames in grown["lineno"][:25]:
        lines.append(f"  {size / n:8.1f} B {count / n:6.2f}  {frames[0]}")
    lines.append("Largest allocation tracebacks (most recent call last, shortened):")
    for size, count, frames in grown["traceback"][:8]:
        lines.append(f"  {size / n:8.1f} B {count / n:6.2f}")
        shown = [frame for frame in frames if "asyncio/" not in frame and "uvicorn" not in frame]
        lines += [f"      {frame}" for frame in shown[-6:]]
    return lines


# The reference: a plain websockets server (--role reference) ---------------------------------


@dataclass(frozen=True)
class Reference:
    """A configuration of the reference server."""

    name: str
    label: str
    deflate: bool
    window_bits: int = 0
    mem_level: int = 0

    def extensions(self) -> tuple[str | None, list[ServerExtensionFactory] | None]:
        """``serve()``'s ``compression`` and ``extensions`` for this configuration."""
        if not self.deflate:
            return None, None
        if self.window_bits == 12 and self.mem_level == 5:
            return "deflate", None  # websockets' defaults
        factory = ServerPerMessageDeflateFactory(
            server_max_window_bits=self.window_bits if self.window_bits != 15 else None,
            compress_settings={"memLevel": self.mem_level},
        )
        return None, [factory]

    def zlib_bytes(self) -> int:
        """What zlib allocates for one connection's deflate and inflate states (zconf.h)."""
        if not self.deflate:
            return 0
        deflate = (1 << (self.window_bits + 2)) + (1 << (self.mem_level + 9))
        return deflate + (1 << self.window_bits)


REFERENCES = {
    reference.name: reference
    for reference in (
        Reference("plain", "compression=None", deflate=False),
        Reference("deflate-12", 'compression="deflate" (12 bits, memLevel 5)', True, 12, 5),
        Reference("deflate-15", "deflate, zlib's defaults (15 bits, memLevel 8)", True, 15, 8),
    )
}


def serve_reference(name: str, snapshots: int) -> None:
    """Serve RFC 6455 with websockets; take commands on stdin (see ``_serve_reference``)."""
    asyncio.run(_serve_reference(REFERENCES[name], snapshots))


async def _serve_reference(reference: Reference, snapshots: int) -> None:
    # Prints the port, then answers each line of stdin with a line: "send I" broadcasts the
    # I-th snapshot message to the measured connections, "quit" stops.
    texts = snapshot_texts(snapshots)
    connections: dict[ServerConnection, None] = {}

    async def hold(connection: ServerConnection) -> None:
        measured = connection.request is not None and connection.request.path.endswith(MEASURED)
        if measured:
            connections[connection] = None
        try:
            async for _ in connection:
                pass
        finally:
            connections.pop(connection, None)

    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    compression, extensions = reference.extensions()
    async with serve(
        hold,
        "127.0.0.1",
        0,
        compression=compression,
        extensions=extensions,
        ping_interval=None,
        max_size=None,
    ) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        while line := (await stdin.readline()).decode().split():
            if line[0] == "send":
                broadcast(connections, texts[int(line[1])])
            elif line[0] == "quit":
                break
            print("ok", flush=True)


@dataclass(frozen=True)
class ReferenceResult:
    """One configuration's figures."""

    reference: Reference
    baseline: Memory
    idle: Memory
    working: Memory
    cpu: float
    deliveries: int


async def measure_reference(
    reference: Reference, args: argparse.Namespace, core: int, log: IO[bytes]
) -> ReferenceResult:
    """Measure one configuration of the reference server."""
    n, warmup = args.connections, args.warmup_connections
    command = [sys.executable, __file__, "--role", "reference", "--config", reference.name]
    command += ["--snapshots", str(args.snapshots)]
    opened: list[Peer] = []
    async with started(command, log, stdio=True) as server:
        assert server.stdin is not None
        assert server.stdout is not None
        stdin, stdout = server.stdin, server.stdout

        async def ask(line: str) -> None:
            stdin.write(line.encode() + b"\n")
            await stdin.drain()
            async with asyncio.timeout(TIMEOUT):
                if (await stdout.readline()).strip() != b"ok":
                    raise RuntimeError(f"the reference server failed:\n{tail(log)}")

        pin(server.pid, core)
        try:
            async with asyncio.timeout(TIMEOUT):
                port = int(await stdout.readline() or b"0")
            if not port:
                raise RuntimeError(f"the reference server did not start:\n{tail(log)}")
            pin(server.pid, core)
            opener = rfc6455_opener(f"ws://127.0.0.1:{port}/", deflate=reference.deflate)
            await open_peers(opener, WARMUP, warmup, opened)
            await asyncio.sleep(args.settle)
            baseline = memory(server.pid)
            measured = await open_peers(opener, MEASURED, n, opened)
            await asyncio.sleep(args.settle)
            idle = memory(server.pid)
            # The same work as through the gateway: one request each, then the snapshots.
            await asyncio.gather(*(peer.send(REQUEST) for peer in measured))
            cpu = cpu_time(server.pid)
            for number in range(args.snapshots):
                await ask(f"send {number}")
                await wait_received(measured, number + 1)
            cpu = cpu_time(server.pid) - cpu
            await asyncio.sleep(args.settle)
            working = memory(server.pid)
            stdin.write(b"quit\n")
        finally:
            for peer in opened:
                peer.abort()
    return ReferenceResult(reference, baseline, idle, working, cpu, n * args.snapshots)


# Bandwidth and CPU, in this process ---------------------------------------------------------


@dataclass(frozen=True)
class Encoding:
    """One way of putting a stream of messages on the wire."""

    label: str
    frame: Callable[[bytes], bytes]
    per_connection: bool  # whether each connection needs its own run of it


def deflate_encoding(
    label: str, window_bits: int, mem_level: int, *, takeover: bool = True
) -> Callable[[], Encoding]:
    """A fresh permessage-deflate context, as websockets' extension compresses for one peer."""

    def make() -> Encoding:
        extension = PerMessageDeflate(
            remote_no_context_takeover=False,
            local_no_context_takeover=not takeover,
            remote_max_window_bits=window_bits,
            local_max_window_bits=window_bits,
            compress_settings={"memLevel": mem_level},
        )

        def frame(payload: bytes) -> bytes:
            return Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[extension])

        return Encoding(label, frame, per_connection=takeover)

    return make


def plain_encodings() -> list[Callable[[], Encoding]]:
    """The gateway's framings: once per message, whatever the number of connections."""
    rfc6455, draft = RFC6455Wire.framing, draft_framing(Limits().fragment_size)

    def make_rfc6455() -> Encoding:
        return Encoding("RFC 6455, no deflate", lambda p: rfc6455(True, p)[0], False)

    def make_draft() -> Encoding:
        return Encoding("draft", lambda p: b"".join(draft(True, p)), False)

    return [make_rfc6455, make_draft]


ENCODINGS = [
    *plain_encodings(),
    deflate_encoding("deflate, 15 bits, memLevel 8", 15, 8),
    deflate_encoding("deflate, 12 bits, memLevel 5", 12, 5),
    deflate_encoding("deflate, no context takeover", 15, 8, takeover=False),
]


@dataclass(frozen=True)
class StreamResult:
    """The bytes and CPU time of one encoding of one stream."""

    label: str
    per_connection: bool
    wire_bytes: int
    seconds: float  # per message, best of the passes


def check_against_zlib(payloads: Sequence[bytes], frames: Sequence[bytes]) -> None:
    """Check websockets' compressed frames against zlib's raw deflate, 15 bits, memLevel 8."""
    compressor = zlib.compressobj(wbits=-15, memLevel=8)
    for payload, frame in zip(payloads, frames, strict=True):
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        if not frame.endswith(data[:-4]) or frame[0] != 0xC1:  # FIN, RSV1, text
            raise AssertionError("websockets' deflate differs from zlib's")


def measure_stream(texts: Sequence[str], passes: int = 3) -> list[StreamResult]:
    """Every encoding of ``texts``: total bytes on the wire, and time per message."""
    payloads = [text.encode() for text in texts]
    results = []
    for make in ENCODINGS:
        best = math.inf
        frames: list[bytes] = []
        for _ in range(passes):
            encoding = make()
            frame = encoding.frame
            start = time.perf_counter()
            frames = [frame(payload) for payload in payloads]
            best = min(best, time.perf_counter() - start)
        if encoding.label.startswith("deflate, 15"):
            check_against_zlib(payloads, frames)
        wire = sum(len(frame) for frame in frames)
        results.append(
            StreamResult(encoding.label, encoding.per_connection, wire, best / len(texts))
        )
    return results


# Report --------------------------------------------------------------------------------------


def per_connection(delta: int, n: int) -> str:
    """Bytes per connection, in KiB with one decimal."""
    return f"{delta / n / KIB:.1f}"


def gateway_table(results: Sequence[GatewayResult], n: int) -> list[str]:
    rows = []
    for r in results:
        idle = r.idle - r.baseline
        row = [
            r.protocol,
            f"{r.baseline.rss / MIB:.1f}",
            f"{r.idle.rss / MIB:.1f}",
            per_connection(idle.rss, n),
            per_connection(idle.anon, n),
        ]
        if r.working is not None and r.closed is not None:
            row += [
                per_connection((r.working - r.baseline).rss, n),
                f"{r.cpu / r.deliveries * US:.1f}",
                per_connection((r.closed - r.baseline).rss, n),
            ]
        else:
            row += ["-", "-", "-"]
        rows.append(row)
    return markdown_table(
        (
            "gateway, protocol",
            "baseline MiB",
            "with N idle MiB",
            "idle KiB/conn",
            "idle RssAnon KiB/conn",
            "working KiB/conn",
            "CPU µs/delivery",
            "left after close KiB/conn",
        ),
        rows,
    )


def reference_table(results: Sequence[ReferenceResult], n: int) -> list[str]:
    plain = next((r for r in results if not r.reference.deflate), None)
    rows = []
    for r in results:
        idle, working = (r.idle - r.baseline).rss, (r.working - r.baseline).rss
        extra = "-"
        if plain is not None and r is not plain:
            extra = per_connection(working - (plain.working - plain.baseline).rss, n)
        rows.append(
            [
                r.reference.label,
                f"{r.reference.zlib_bytes() / KIB:.0f}",
                f"{r.baseline.rss / MIB:.1f}",
                per_connection(idle, n),
                per_connection(working, n),
                extra,
                f"{r.cpu / r.deliveries * US:.1f}",
            ]
        )
    return markdown_table(
        (
            "websockets server",
            "zlib allocates KiB/conn",
            "baseline MiB",
            "idle KiB/conn",
            "working KiB/conn",
            "working, more than plain",
            "CPU µs/delivery",
        ),
        rows,
    )


def stream_table(name: str, count: int, raw: int, results: Sequence[StreamResult]) -> list[str]:
    reference = results[0].wire_bytes
    rows = [
        [
            r.label,
            f"{r.wire_bytes / count:.1f}",
            f"{r.wire_bytes / reference:.3f}",
            f"{r.seconds * US:.2f}",
            "each client" if r.per_connection else "once",
        ]
        for r in results
    ]
    return [
        f"{name}: {count:,} messages, {raw / count:.1f} B of JSON each on average",
        "",
        *markdown_table(
            ("encoding", "B/msg on the wire", "vs RFC 6455", "µs/msg", "done"),
            rows,
        ),
    ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--connections", type=int, default=2000, help="idle connections measured per run (N)"
    )
    parser.add_argument(
        "--warmup-connections",
        type=int,
        default=20,
        help="connections opened before the baseline, and kept open",
    )
    parser.add_argument("--settle", type=float, default=2.0, help="seconds before each reading")
    parser.add_argument("--path", default="/stocks", choices=["/stocks", "/chat"])
    parser.add_argument(
        "--snapshots", type=int, default=16, help="snapshot messages sent to each working client"
    )
    parser.add_argument(
        "--quotes", type=int, default=10_000, help="quote messages of the bandwidth measurement"
    )
    parser.add_argument("--redis-url", help="a Redis to use if redis-server is not installed")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="only trace the gateway's idle connections"
    )
    parser.add_argument("--role", choices=["reference", "traced-gateway"], help=argparse.SUPPRESS)
    parser.add_argument("--config", choices=list(REFERENCES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.connections < 1 or args.warmup_connections < 1 or args.snapshots < 1:
        parser.error("--connections, --warmup-connections and --snapshots must be at least 1")
    if args.settle < 0 or args.quotes < 1:
        parser.error("--settle must not be negative, --quotes at least 1")
    return args


async def run(args: argparse.Namespace, server_core: int) -> None:
    """Every measurement, printed as it completes."""
    n = args.connections
    with tempfile.TemporaryFile() as log:
        gateway_results = []
        async with redis_server(args.redis_url, log) as url:
            async with Redis.from_url(url) as client:
                info = await client.info("server")
            print(f"Redis:      {info['redis_version']} at {url}\n", flush=True)
            for protocol in ("draft", "rfc6455"):
                result = await measure_gateway(protocol, args, url, server_core, log)
                gateway_results.append(result)
                print(f"gateway {protocol}: done", flush=True)
        print(f"\nThe gateway (python -m gateway), {n:,} connections to {args.path}:\n")
        print("\n".join(gateway_table(gateway_results, n)))
        for result in gateway_results:
            if result.trace:
                print(f"\n{result.protocol}:")
                print("\n".join(result.trace))
        if args.tracemalloc:
            return
        print(
            f"\nworking: after one request each and {args.snapshots} snapshot messages "
            f"({sum(map(len, snapshot_texts(args.snapshots))) / KIB:.0f} KiB of JSON) received."
            "\nCPU: the server's, over those messages, per message per connection.",
            flush=True,
        )
        reference_results = []
        for reference in REFERENCES.values():
            reference_results.append(await measure_reference(reference, args, server_core, log))
            print(f"reference {reference.name}: done", flush=True)
        print(f"\nThe reference, a websockets server, {n:,} connections:\n")
        print("\n".join(reference_table(reference_results, n)), flush=True)
    print("\nBandwidth and CPU per message, one connection's stream, in this process:\n")
    for name, texts in (
        ("quotes", quote_texts(args.quotes)),
        ("chat", chat_texts(args.quotes)),
    ):
        raw = sum(len(text.encode()) for text in texts)
        print("\n".join(stream_table(name, len(texts), raw, measure_stream(texts))) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print."""
    args = parse_args(argv)
    if args.role == "reference":
        serve_reference(args.config, args.snapshots)
        return 0
    if args.role == "traced-gateway":
        traced_gateway()
        return 0
    cores = sorted(os.sched_getaffinity(0))
    server_core, client_core = cores[-1], cores[0]
    os.sched_setaffinity(0, {client_core})  # Redis inherits it.
    files = raise_open_files(args.connections + args.warmup_connections + 256)
    print(f"Python:     {platform.python_implementation()} {platform.python_version()}")
    print(f"Platform:   {platform.platform()}")
    print(f"CPU:        {cpu_model()} ({os.cpu_count()} logical CPUs)")
    print(
        f"Libraries:  websockets {importlib.metadata.version('websockets')}, "
        f"uvicorn {uvicorn.__version__}, "
        f"redis-py {redis.__version__}, zlib {zlib.ZLIB_RUNTIME_VERSION}"
    )
    print(f"Load avg:   {load_average()}")
    print(f"Command:    {shlex.join(['python', *sys.argv])}")
    print(
        f"Cores:      servers pinned to CPU {server_core}; this process (clients) and Redis "
        f"to CPU {client_core}"
        + ("  (one CPU only: they share it)" if server_core == client_core else "")
    )
    print(
        f"Settings:   N = {args.connections:,} connections per run, "
        f"{args.warmup_connections} warm-up connections, {args.settle:g} s settle; "
        f"RLIMIT_NOFILE {files}",
        flush=True,
    )
    asyncio.run(run(args, server_core))
    print(f"Load avg at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
