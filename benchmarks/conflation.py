"""Conflation benchmark: slow clients of the stock quotes, with and without conflation.

Usage, from the repository root (Docker must be running, for Redis)::

    python benchmarks/conflation.py                       # about 80 s
    python benchmarks/conflation.py --rate 5000 --fast 4 --duration 10
    python benchmarks/conflation.py --redis-url redis://localhost:6379/0

What is measured
================

Issue 5: a subscriber that cannot keep up gets the latest quote of each symbol when it
catches up, never an unbounded queue, and its slowness delays no other subscriber
(docs/BUS.md, "Conflation"). Three runs, each with a gateway of its own:

1. **reference**: ``--fast`` clients, no slow client;
2. **conflated**: the same plus ``--slow`` slow clients, subscribed with ``conflate`` as the
   stock service subscribes every client;
3. **not conflated**: the same, the slow clients subscribed without ``conflate``.

Each run has three processes, so that the clients' and the feed's work is not done by the
gateway's event loop:

* this one: the real gateway (``gateway.create_app`` served by uvicorn with the protocols of
  ``gateway.connection``, as ``python -m gateway`` serves it) on a free loopback port, and a
  stand-in for the stock service, which answers each ``/stocks`` connection's ``open`` by
  subscribing it to every symbol's ``quotes.<SYMBOL>`` topic, as the real service does for
  a client that asks for them all. The fast clients are always subscribed with ``conflate``;
* a feed: ``stock_service.Feed`` as the service builds it (the default publish interval and
  batch limit), ticking ``stock_service.Market`` over the first ``--symbols`` stocks at
  ``--rate`` quotes a second;
* the clients: ``--fast`` clients of the ``client`` library, which read every quote, and the
  slow clients, which read ``--slow-read`` bytes a second each.

Redis is a container started with testcontainers from the image the tests use
(``WSLAB_REDIS_IMAGE``, ``wslab/base:bookworm`` by default; never pulled) and removed at the
end, or the server of ``--redis-url``, which is flushed before each run.

Once every client is subscribed, the feed starts; ``--warmup`` seconds after its first batch,
``--duration`` seconds are measured:

* the fast clients' latency for every quote published in the window (a ``seq`` between the
  latest ones in ``bus.QUOTES_KEY`` at the start and at the end of the window): from the
  quote's ``ts`` (the feed's clock, when it built the batch) to the client's having decoded
  it. All fast clients together; also the quotes of the window they received, and those
  they skipped over the run (gaps in a symbol's ``seq``: none, unless one of them was slow);
* each second, on the gateway's side of each slow client: the bytes waiting in the
  connection's transport (its write buffer) and the messages held for it, by count and by
  size (the held frames are the ones every client is sent, shared rather than copied, so
  their size is an upper bound on what holding them costs);
* the CPU time of this process (the gateway, mostly) in percent of one core.

and, from the feed's start to its end (warm-up included, since a slow client may be closed
then), the increase of ``wslab_conflated_messages_total`` and ``wslab_slow_closes_total``.

Then the feed stops and the slow clients read as fast as they can until nothing comes for a
second: each should then have, as its last quote of every symbol, the latest one published
(the ``seq`` the feed last wrote to ``bus.QUOTES_KEY``).

On loopback, Linux lets a socket's buffers grow to megabytes, and a slow client would leave
that much unread in the kernel before the gateway's own buffer fills. As the gateway's tests
do, the slow clients' connections get small kernel buffers (``SO_RCVBUF`` on the client's
socket, ``SO_SNDBUF`` on the gateway's), so that what they do not read waits in the gateway,
where it is measured; the fast clients keep the kernel's defaults.

The latency ratios compare each run with the reference run of the same invocation: above 1
means slower than the reference. The processes share the machine's CPUs with Redis and
whatever else runs; the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import socket
import sys
import time
from array import array
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event

import redis
import uvicorn
from fastapi import FastAPI
from machine import cpu_model, load_average
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from report import markdown_table

from bus import (
    QUOTES_KEY,
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
from client import Connection, connect
from gateway import Settings, create_app
from gateway.connection import Connection as ServerConnection
from gateway.hub import Hub
from servicekit import Outbox
from stock_service import STOCKS, Feed, Market, StockSettings, topic
from wsdraft import ClientProtocol, Closed, State, TextMessage

REDIS_IMAGE = os.environ.get("WSLAB_REDIS_IMAGE", "wslab/base:bookworm")
REDIS_COMMAND = "redis-server --protected-mode no --save '' --appendonly no"
GATEWAY_ID = "gw-bench"
SERVICE = "stocks"
#: The query string of the slow clients: how the stand-in service and the sampler know them.
SLOW_QUERY = "slow=1"
#: The slow clients' kernel buffers, as tests/gateway/server.py's shrink_send_buffer.
SOCKET_BUFFER = 4096
#: A slow client reads its share of --slow-read every READ_TICK seconds.
READ_TICK = 0.1
#: After the feed stops, a slow client has caught up once nothing came for this long.
CATCH_UP_IDLE = 1.0
#: Seconds any step of setting up or ending a run may take.
TIMEOUT = 30.0
MS = 1000.0
SPAWN = multiprocessing.get_context("spawn")
CONFLATED = "wslab_conflated_messages_total"
SLOW_CLOSES = "wslab_slow_closes_total"


# What the processes report -----------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One of the three runs: how many slow clients, and whether they are conflated."""

    name: str
    slow: int
    conflate_slow: bool


@dataclass(frozen=True)
class Window:
    """The quotes measured: per symbol, ``seq`` above ``first`` and up to ``last``."""

    first: dict[str, int]
    last: dict[str, int]

    def __contains__(self, item: tuple[str, int]) -> bool:
        symbol, seq = item
        return self.first.get(symbol, 0) < seq <= self.last.get(symbol, 0)

    @property
    def published(self) -> int:
        """How many quotes were published in the window."""
        return sum(self.last.values()) - sum(self.first.values())


@dataclass(frozen=True)
class SlowReport:
    """What one slow client received over the run."""

    received: int
    latest: dict[str, int]
    closed: bool


@dataclass(frozen=True)
class ClientsReport:
    """What the clients process saw; latencies in seconds, of the fast clients together."""

    p50: float
    p99: float
    max: float
    received: int
    skipped: int
    slow: list[SlowReport]


@dataclass(frozen=True)
class Sample:
    """The gateway's side of one slow client at one time."""

    unsent: int
    held: int
    held_bytes: int

    @property
    def memory(self) -> int:
        """Bytes the gateway keeps for the client: unsent, and held at most."""
        return self.unsent + self.held_bytes


@dataclass(frozen=True)
class Observed:
    """What the gateway's process saw during the window."""

    window: Window
    samples: list[list[Sample]]  # each second, each slow client
    cpu: float


@dataclass(frozen=True)
class Result:
    """One run's figures."""

    run: Run
    observed: Observed
    clients: ClientsReport
    published: dict[str, int]  # each symbol's latest seq once the feed stopped
    conflated: float  # the counters' increase while the feed ran
    slow_closes: float

    def caught_up(self) -> int:
        """How many slow clients ended with the latest quote of every symbol."""
        return sum(slow.latest == self.published for slow in self.clients.slow)


# The feed's process ------------------------------------------------------------------------


def run_feed(url: str, rate: float, symbols: int, stop: Event) -> None:
    """In a process of its own: publish quotes as the stock service does, until ``stop``."""
    asyncio.run(_feed(url, rate, symbols, stop))


async def _feed(url: str, rate: float, symbols: int, stop: Event) -> None:
    stocks = STOCKS[:symbols]
    settings = StockSettings(tick_rate=rate)
    feed = Feed(
        Market(stocks, seed=2010).timed(rate),
        stocks,
        interval=settings.publish_interval,
        max_batch=settings.max_batch,
    )
    async with Redis.from_url(url) as client:
        task = asyncio.create_task(feed.run(Outbox(client, "stocks")))
        await asyncio.to_thread(stop.wait)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# The clients' process ----------------------------------------------------------------------


class FastClient:
    """A client of the ``client`` library that reads every quote and times it."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.skipped = 0
        # Each symbol's seqs and latencies (seconds), in the order received.
        self.quotes: dict[str, tuple[array[int], array[float]]] = {}

    async def run(self) -> None:
        """Read quotes until cancelled or the connection closes."""
        async for message in self.connection:
            quote = json.loads(message)
            now = time.time()
            if quote["type"] != "quote":
                continue
            symbol, seq = quote["symbol"], quote["seq"]
            seqs, latencies = self.quotes.setdefault(symbol, (array("q"), array("d")))
            if seqs and seq > seqs[-1] + 1:
                self.skipped += seq - seqs[-1] - 1
            seqs.append(seq)
            latencies.append(now - quote["ts"])

    def latencies(self, window: Window) -> list[float]:
        """The latencies of the quotes of ``window``."""
        return [
            latency
            for symbol, (seqs, latencies) in self.quotes.items()
            for seq, latency in zip(seqs, latencies, strict=True)
            if (symbol, seq) in window
        ]


class SlowClient:
    """A ``/stocks`` client that reads at most a given number of bytes a second.

    It drives a :class:`wsdraft.ClientProtocol` over a socket with a small receive buffer
    and an asyncio stream that buffers little, so that what it leaves unread waits in the
    gateway rather than in this process or the kernel.
    """

    def __init__(
        self, protocol: ClientProtocol, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.protocol = protocol
        self.reader = reader
        self.writer = writer
        self.received = 0
        self.latest: dict[str, int] = {}
        self.closed: Closed | None = None

    @classmethod
    async def connect(cls, host: str, port: int, resource: str) -> SlowClient:
        """Connect and complete the handshake.

        Raises:
            ConnectionError: the handshake failed.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Before connecting, so that the TCP window is small from the start.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
        except BaseException:
            sock.close()
            raise
        reader, writer = await asyncio.open_connection(sock=sock, limit=SOCKET_BUFFER)
        client = cls(ClientProtocol(f"ws://{host}:{port}{resource}"), reader, writer)
        client._flush()
        while client.protocol.state is not State.OPEN:
            if not await client._read(2**16):
                client.abort()
                error = client.closed.error if client.closed else None
                raise ConnectionError(f"the handshake failed: {error}")
        return client

    async def read_slowly(self, rate: float) -> None:
        """Read ``rate`` bytes a second, until cancelled or the connection ends."""
        loop = asyncio.get_running_loop()
        share = max(1, round(rate * READ_TICK))
        due = loop.time()
        while self.closed is None:
            left = share
            while left > 0 and (size := await self._read(left)):
                left -= size
            due += READ_TICK
            await asyncio.sleep(max(0.0, due - loop.time()))

    async def catch_up(self) -> None:
        """Read as fast as possible, until nothing comes for CATCH_UP_IDLE seconds."""
        while self.closed is None:
            try:
                async with asyncio.timeout(CATCH_UP_IDLE):
                    await self._read(2**16)
            except TimeoutError:
                return

    def report(self) -> SlowReport:
        """What the client received."""
        return SlowReport(self.received, self.latest, self.closed is not None)

    def abort(self) -> None:
        """Drop the connection."""
        self.writer.transport.abort()

    async def _read(self, size: int) -> int:
        # Read up to ``size`` bytes and hand them to the core; return how many, 0 at the end.
        try:
            data = await self.reader.read(size)
        except OSError:  # The gateway aborted the connection.
            data = b""
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        self._flush()
        for event in self.protocol.events_received():
            match event:
                case TextMessage(data=text):
                    quote = json.loads(text)
                    if quote["type"] == "quote":
                        self.received += 1
                        self.latest[quote["symbol"]] = quote["seq"]
                case Closed():
                    self.closed = event
                case _:
                    pass  # Opened; the core answers pings itself.
        return len(data)

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.writer.write(data)
            else:
                self.writer.close()


def run_clients(port: int, fast: int, slow: int, slow_read: float, pipe: Pipe) -> None:
    """In a process of its own: run the clients, and report on ``pipe``.

    It sends ``"ready"`` once every client is connected, waits for the :class:`Window`
    (sent once the feed has stopped), lets the slow clients catch up, then sends a
    :class:`ClientsReport` and closes the connections.
    """
    asyncio.run(_clients(port, fast, slow, slow_read, pipe))


async def _clients(port: int, fast: int, slow: int, slow_read: float, pipe: Pipe) -> None:
    host = "127.0.0.1"
    fast_clients = [
        FastClient(await connect(f"ws://{host}:{port}/{SERVICE}", proxy=None)) for _ in range(fast)
    ]
    slow_clients = [
        await SlowClient.connect(host, port, f"/{SERVICE}?{SLOW_QUERY}") for _ in range(slow)
    ]
    readers = [asyncio.create_task(c.run()) for c in fast_clients]
    slow_readers = [asyncio.create_task(c.read_slowly(slow_read)) for c in slow_clients]
    pipe.send("ready")
    window: Window = await asyncio.to_thread(pipe.recv)
    for task in slow_readers:
        task.cancel()
    await asyncio.gather(*slow_readers, return_exceptions=True)
    # Meanwhile the fast clients read the last quotes of the window.
    await asyncio.gather(*(c.catch_up() for c in slow_clients))
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    latencies = sorted(latency for c in fast_clients for latency in c.latencies(window))
    pipe.send(
        ClientsReport(
            p50=percentile(latencies, 0.50),
            p99=percentile(latencies, 0.99),
            max=latencies[-1] if latencies else float("nan"),
            received=len(latencies),
            skipped=sum(c.skipped for c in fast_clients),
            slow=[c.report() for c in slow_clients],
        )
    )
    for c in slow_clients:
        c.abort()
    await asyncio.gather(*(c.connection.close() for c in fast_clients))


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``ordered`` (sorted) lies; NaN if empty."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# The gateway's process ---------------------------------------------------------------------


@contextmanager
def redis_server(url: str | None) -> Iterator[str]:
    """The URL of ``url``'s Redis, or of a container started for the benchmark."""
    if url:
        yield url
        return
    # Ryuk, testcontainers' reaper, is an image we cannot pull here; the block cleans up.
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    from testcontainers.community.redis import RedisContainer

    with RedisContainer(REDIS_IMAGE).with_command(REDIS_COMMAND) as container:
        host = container.get_container_host_ip()
        yield f"redis://{host}:{container.get_exposed_port(container.port)}/0"


@asynccontextmanager
async def serve_gateway(settings: Settings) -> AsyncIterator[tuple[FastAPI, int]]:
    """Serve the gateway on a free loopback port until the block ends; yield it and the port.

    As ``python -m gateway`` serves it, with the app's lifespan; like tests/gateway's
    ``run_server``.
    """
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        http="gateway.http:HTTPProtocol",
        ws="gateway.connection:Connection",
        lifespan="on",
        log_config=None,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(TIMEOUT):
            while not server.started:
                if task.done():
                    task.result()  # Raise why it stopped.
                    raise RuntimeError("the gateway stopped during startup")
                await asyncio.sleep(0.01)
        hub: Hub = app.state.hub
        async with asyncio.timeout(TIMEOUT):
            while not await hub.ready():
                await asyncio.sleep(0.05)
        yield app, server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def stocks_service(
    client: Redis, symbols: Sequence[str], conflate_slow: bool
) -> AsyncIterator[None]:
    """Stand in for the stock service while the block runs.

    Each new ``/stocks`` connection is subscribed to every symbol's quotes, with
    ``conflate``, except the slow clients' when ``conflate_slow`` is False.
    """

    async def serve(batch: list[Entry]) -> None:
        for _, fields in batch:
            envelope = Envelope.decode(fields[b"envelope"])
            if envelope.kind != "open":
                continue
            conflate = conflate_slow or envelope.query != SLOW_QUERY
            async with client.pipeline(transaction=False) as pipe:
                for symbol in symbols:
                    command = Subscribe(conn=envelope.conn, topic=topic(symbol), conflate=conflate)
                    pipe.publish(
                        command_channel(envelope.gateway, SERVICE), encode_command(command)
                    )
                await pipe.execute()

    reader = StreamReader(client, service_stream(SERVICE), serve)
    task = asyncio.create_task(reader.run())
    # A live replica while the block runs: the gateway appends envelopes only for one.
    await client.zadd(service_replicas(SERVICE), {"stand-in": time.time() + 10 * TIMEOUT})
    try:
        async with asyncio.timeout(TIMEOUT):
            await reader.connected.wait()
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.zrem(service_replicas(SERVICE), "stand-in")


async def wait_subscribed(hub: Hub, client: Redis, count: int, symbols: Sequence[str]) -> None:
    """Wait until ``count`` connections receive every symbol's topic."""
    channels = [topic_channel(topic(symbol)) for symbol in symbols]
    async with asyncio.timeout(TIMEOUT):
        while len(hub.links) < count or any(
            len(link.channels) < len(symbols) for link in hub.links.values()
        ):
            await asyncio.sleep(0.05)
        while any(subscribers != 1 for _, subscribers in await client.pubsub_numsub(*channels)):
            await asyncio.sleep(0.05)


def slow_connections(hub: Hub) -> list[ServerConnection]:
    """The slow clients' connections, their kernel send buffers shrunk to SOCKET_BUFFER."""
    connections = []
    for link in hub.links.values():
        if link.query == SLOW_QUERY:
            connection = link.outbox.writer
            if not isinstance(connection, ServerConnection):
                raise TypeError(f"unexpected connection {connection!r}")
            sock = connection.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
            connections.append(connection)
    return connections


def sample(connection: ServerConnection) -> Sample:
    """What the gateway keeps for one client now."""
    held = connection.outbox.held.values()
    return Sample(
        unsent=connection.transport.get_write_buffer_size(),
        held=len(held),
        # Framed once already, for the fast clients, which speak the same protocol.
        held_bytes=sum(
            len(frame) for message in held for frame in message.framed(connection.framing)
        ),
    )


def counter(name: str) -> float:
    """A counter of the gateway's metrics, in this process's registry."""
    return REGISTRY.get_sample_value(name) or 0.0


async def sequences(client: Redis) -> dict[str, int]:
    """Each symbol's latest seq, from the quotes the feed last wrote to QUOTES_KEY."""
    quotes = [json.loads(text) for text in (await client.hgetall(QUOTES_KEY)).values()]
    return {quote["symbol"]: quote["seq"] for quote in quotes}


async def wait_published(client: Redis) -> None:
    """Wait for the feed's first batch, which writes every symbol's quote to QUOTES_KEY."""
    async with asyncio.timeout(TIMEOUT):
        while not await client.exists(QUOTES_KEY):
            await asyncio.sleep(0.01)


async def receive(pipe: Pipe) -> object:
    """The next message from the clients' process."""
    if not await asyncio.to_thread(pipe.poll, TIMEOUT):
        raise RuntimeError("the clients' process did not answer")
    return pipe.recv()


@contextmanager
def spawned(target: Callable[..., None], *args: object) -> Iterator[BaseProcess]:
    """Run ``target(*args)`` in a new process; terminate it at the end if it still runs."""
    process = SPAWN.Process(target=target, args=args)
    process.start()
    try:
        yield process
    finally:
        if process.is_alive():
            process.terminate()
            process.join()


async def observe(
    client: Redis, connections: Sequence[ServerConnection], duration: float
) -> Observed:
    """Sample the slow clients' connections each second for ``duration`` seconds."""
    loop = asyncio.get_running_loop()
    first = await sequences(client)
    cpu, began = time.process_time(), loop.time()
    samples = []
    for second in range(int(duration) + 1):
        await asyncio.sleep(max(0.0, began + second - loop.time()))
        samples.append([sample(connection) for connection in connections])
    await asyncio.sleep(max(0.0, began + duration - loop.time()))
    return Observed(
        window=Window(first, await sequences(client)),
        samples=samples,
        cpu=(time.process_time() - cpu) / (loop.time() - began) * 100,
    )


async def measure(run: Run, url: str, args: argparse.Namespace) -> Result:
    """Do one run against a fresh gateway; return its figures."""
    symbols = [stock.symbol for stock in STOCKS[: args.symbols]]
    ours, theirs = SPAWN.Pipe()
    stop = SPAWN.Event()
    async with Redis.from_url(url) as client:
        await client.flushall()
        settings = Settings(redis_url=url, gateway_id=GATEWAY_ID)
        async with (
            serve_gateway(settings) as (app, port),
            stocks_service(client, symbols, run.conflate_slow),
        ):
            hub: Hub = app.state.hub
            with spawned(run_clients, port, args.fast, run.slow, args.slow_read, theirs) as clients:
                if await receive(ours) != "ready":
                    raise RuntimeError("the clients' process did not start")
                await wait_subscribed(hub, client, args.fast + run.slow, symbols)
                connections = slow_connections(hub)
                conflated, slow_closes = counter(CONFLATED), counter(SLOW_CLOSES)
                with spawned(run_feed, url, args.rate, args.symbols, stop) as feed:
                    await wait_published(client)
                    await asyncio.sleep(args.warmup)
                    observed = await observe(client, connections, args.duration)
                    stop.set()
                    await asyncio.to_thread(feed.join, TIMEOUT)
                conflated = counter(CONFLATED) - conflated
                slow_closes = counter(SLOW_CLOSES) - slow_closes
                published = await sequences(client)
                ours.send(observed.window)
                report = await receive(ours)
                if not isinstance(report, ClientsReport):
                    raise RuntimeError(f"unexpected report {report!r}")
                await asyncio.to_thread(clients.join, TIMEOUT)
    return Result(run, observed, report, published, conflated, slow_closes)


# Report ------------------------------------------------------------------------------------


def ratio(value: float, reference: float) -> str:
    """``value / reference`` with two decimals."""
    return f"{value / reference:.2f}" if reference > 0 else "n/a"


def run_report(result: Result, reference: Result, fast: int) -> list[str]:
    """The tables and figures of one run."""
    report, window = result.clients, result.observed.window
    expected = fast * window.published
    lines = [
        f"{window.published:,} quotes published in the window; the {fast} fast clients "
        f"received {report.received:,} of the {expected:,} sent to them, "
        f"and skipped {report.skipped:,} over the run.",
        "",
        *markdown_table(
            ("fast clients' latency", "p50", "p99", "max"),
            [
                (
                    "ms",
                    f"{report.p50 * MS:.1f}",
                    f"{report.p99 * MS:.1f}",
                    f"{report.max * MS:.1f}",
                ),
                (
                    "vs reference",
                    ratio(report.p50, reference.clients.p50),
                    ratio(report.p99, reference.clients.p99),
                    ratio(report.max, reference.clients.max),
                ),
            ],
        ),
    ]
    if result.run.slow:
        worst = [max(samples, key=lambda s: s.memory) for samples in result.observed.samples]
        middle = len(worst) // 2
        rows = [
            (f"t = {t} s", f"{s.unsent:,}", f"{s.held:,}", f"{s.held_bytes:,}", f"{s.memory:,}")
            for t, s in ((0, worst[0]), (middle, worst[middle]), (len(worst) - 1, worst[-1]))
        ]
        rows.append(
            (
                "max",
                f"{max(s.unsent for s in worst):,}",
                f"{max(s.held for s in worst):,}",
                f"{max(s.held_bytes for s in worst):,}",
                f"{max(s.memory for s in worst):,}",
            )
        )
        slow = report.slow
        received = sum(s.received for s in slow) / len(slow)
        total = sum(result.published.values())
        lines += [
            "",
            f"The slow clients on the gateway's side, each second the one keeping the most "
            f"(t from the window's start, {len(worst)} samples):",
            "",
            *markdown_table(
                ("slow client", "unsent B", "held msgs", "held B", "unsent + held B"), rows
            ),
            "",
            f"While the feed ran: conflated (wslab_conflated_messages_total) "
            f"+{result.conflated:,.0f}; closed as too slow (wslab_slow_closes_total) "
            f"+{result.slow_closes:,.0f}.",
            f"After the feed stopped, {result.caught_up()} of {len(slow)} slow clients had the "
            f"latest quote of all {len(result.published)} symbols ({sum(s.closed for s in slow)} "
            f"closed); they received {received:,.0f} quotes each on average, "
            f"{received / total:.1%} of the {total:,} published.",
        ]
    lines += ["", f"Gateway process CPU: {result.observed.cpu:.0f}% of one core."]
    return lines


def summary(results: Sequence[Result]) -> list[str]:
    """One line per run, with the ratios to the first (the reference)."""
    reference = results[0].clients
    rows = []
    for result in results:
        report = result.clients
        if result.run.slow:
            worst = [max(s.memory for s in samples) for samples in result.observed.samples]
            memory = f"{worst[0]:,} / {worst[len(worst) // 2]:,} / {worst[-1]:,}"
            peak = f"{max(worst):,}"
            caught_up = f"{result.caught_up()} of {result.run.slow}"
        else:
            memory = peak = caught_up = "-"
        rows.append(
            (
                result.run.name,
                f"{report.p50 * MS:.1f} / {report.p99 * MS:.1f} / {report.max * MS:.1f}",
                f"{ratio(report.p50, reference.p50)} / {ratio(report.p99, reference.p99)}"
                f" / {ratio(report.max, reference.max)}",
                memory,
                peak,
                f"{result.conflated:,.0f}",
                f"{result.slow_closes:,.0f}",
                caught_up,
            )
        )
    return markdown_table(
        (
            "run",
            "fast p50 / p99 / max ms",
            "vs reference",
            "largest slow client's memory B, start / middle / end",
            "max B",
            "conflated",
            "too-slow closes",
            "latest of every symbol",
        ),
        rows,
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="quotes per second, in all")
    parser.add_argument(
        "--symbols", type=int, default=len(STOCKS), help=f"symbols quoted, 1-{len(STOCKS)}"
    )
    parser.add_argument("--fast", type=int, default=10, help="clients that read every quote")
    parser.add_argument("--slow", type=int, default=5, help="clients that cannot keep up")
    parser.add_argument(
        "--slow-read", type=float, default=16384.0, help="bytes a slow client reads a second"
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured per run")
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of quotes before measuring"
    )
    parser.add_argument("--redis-url", help="an existing Redis; default: start a container")
    args = parser.parse_args(argv)
    if not 1 <= args.symbols <= len(STOCKS):
        parser.error(f"--symbols must be from 1 to {len(STOCKS)}")
    if args.fast < 1 or args.slow < 1:
        parser.error("--fast and --slow must be at least 1")
    if min(args.rate, args.slow_read, args.duration) <= 0 or args.warmup < 0:
        parser.error("--rate, --slow-read and --duration must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Do the three runs and print their figures."""
    args = parse_args(argv)
    settings = Settings()
    print(f"Python:     {platform.python_implementation()} {platform.python_version()}")
    print(f"Platform:   {platform.platform()}")
    print(f"CPU:        {cpu_model()} ({os.cpu_count()} logical CPUs)")
    print(f"redis-py:   {redis.__version__}; uvicorn {uvicorn.__version__}")
    print(f"Load avg:   {load_average()}")
    print(
        f"Settings:   {args.rate:,.0f} quotes/s over {args.symbols} symbols; {args.fast} fast "
        f"clients; {args.slow} slow clients reading {args.slow_read:,.0f} B/s each;\n"
        f"            {args.warmup:g} s warm-up, then {args.duration:g} s measured per run; "
        f"WSLAB_SLOW_WRITE_BUFFER {settings.slow_write_buffer:,} B, "
        f"WSLAB_MAX_WRITE_BUFFER {settings.max_write_buffer:,} B",
        flush=True,
    )
    runs = [
        Run("no slow client (reference)", 0, conflate_slow=True),
        Run(f"{args.slow} slow clients, conflated", args.slow, conflate_slow=True),
        Run(f"{args.slow} slow clients, not conflated", args.slow, conflate_slow=False),
    ]
    results: list[Result] = []
    with redis_server(args.redis_url) as url:
        info = redis.Redis.from_url(url).info("server")
        print(f"Redis:      {info['redis_version']} at {url}", flush=True)
        for number, run in enumerate(runs, 1):
            result = asyncio.run(measure(run, url, args))
            results.append(result)
            print(f"\nRun {number} of {len(runs)}: {run.name}\n")
            print("\n".join(run_report(result, results[0], args.fast)), flush=True)
    print("\nSummary (ratios: this run's latency / the reference run's):\n")
    print("\n".join(summary(results)))
    print(f"\nLoad avg at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
