"""Stock feed benchmark: the simulation in process, then the feed publishing to a real Redis.

Usage, from the repository root::

    python benchmarks/quotes_feed.py                       # about 40 s
    python benchmarks/quotes_feed.py --rates 5000 50000 --duration 3
    python benchmarks/quotes_feed.py --redis-url redis://localhost:6379/0

What is measured
================

1. In process, without I/O, on one core: ticks per second of ``Market.tick()`` alone (the
   seeded simulation's raw rate), then with what the feed adds to each tick before Redis:
   the quote (rounding, change from the reference price, seq) and its JSON text.
2. Against a real Redis: a Redis container started with testcontainers from the image the
   tests use (``WSLAB_REDIS_IMAGE``, ``wslab/base:bookworm`` by default; never pulled), or
   the server of ``--redis-url``. For each rate of ``--rates`` (``WSLAB_TICK_RATE``), a
   ``stock_service.Feed`` as the service builds it (the default publish interval and
   batch limit, all 60 symbols) runs for ``--warmup`` then ``--duration`` seconds. A
   separate process subscribes to every quote topic, as a gateway would, and counts what it
   receives, so that Redis does the fan-out and its own work is not counted here. Over the
   measured window the script reports the ticks published per second (taken by the feed,
   all in successful batches), the quotes delivered per second to the subscriber, the CPU
   time of the feed's process (``time.process_time``: user and system, all threads) per
   tick, and that process's CPU use in percent of one core.

The feed, the subscriber and Redis share the machine's CPUs: on a machine with few cores,
the highest rates measure their contention too. The load average is printed before and
after.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event

import redis
from machine import cpu_model, load_average
from redis.asyncio import Redis

from servicekit import Outbox, encode
from stock_service import STOCKS, Feed, Market, Quote, StockSettings
from stock_service.messages import quote

REDIS_IMAGE = os.environ.get("WSLAB_REDIS_IMAGE", "wslab/base:bookworm")
REDIS_COMMAND = "redis-server --protected-mode no --save '' --appendonly no"
PATTERN = "wslab:topic:quotes.*"


# In process -----------------------------------------------------------------------------


def simulation_rates(n: int) -> tuple[float, float]:
    """Ticks per second of the simulation alone, then with each tick's quote and text."""
    market = Market(seed=2010)
    started = time.perf_counter()
    for _ in range(n):
        market.tick()
    raw = n / (time.perf_counter() - started)
    stocks = {stock.symbol: stock for stock in STOCKS}
    started = time.perf_counter()
    for seq in range(n):
        symbol, price = market.tick()
        encode(quote(Quote.of(stocks[symbol], price, seq, 0.0)))
    return raw, n / (time.perf_counter() - started)


# Against Redis --------------------------------------------------------------------------


@contextmanager
def redis_server(url: str | None) -> Iterator[str]:
    """The URL of ``url``'s Redis, or of a container started for the run."""
    if url:
        yield url
        return
    # Ryuk, testcontainers' reaper, is an image we cannot pull here; the block cleans up.
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    from testcontainers.community.redis import RedisContainer

    with RedisContainer(REDIS_IMAGE).with_command(REDIS_COMMAND) as container:
        host = container.get_container_host_ip()
        yield f"redis://{host}:{container.get_exposed_port(container.port)}/0"


def count_quotes(url: str, ready: Event, stop: Event, count: Synchronized[int]) -> None:
    """In a process of its own: count the messages of every quote topic until ``stop``."""
    pubsub = redis.Redis.from_url(url).pubsub()
    pubsub.psubscribe(PATTERN)
    while pubsub.get_message(timeout=1.0) is None:  # The subscription's confirmation
        pass
    ready.set()
    received = 0
    while not stop.is_set():
        while pubsub.get_message(timeout=0.05) is not None:
            received += 1
            if received % 256 == 0:
                count.value = received
        count.value = received
    pubsub.close()


async def measure(
    url: str, rate: float, warmup: float, duration: float, delivered: Synchronized[int]
) -> dict[str, float]:
    """Run a feed at ``rate``; return what it did over ``duration`` after ``warmup``."""
    settings = StockSettings(tick_rate=rate)
    feed = Feed(
        Market(seed=2010).timed(rate),
        STOCKS,
        interval=settings.publish_interval,
        max_batch=settings.max_batch,
    )

    def published() -> int:
        return sum(q.seq for q in feed.latest.values())

    async with Redis.from_url(url) as client:
        task = asyncio.create_task(feed.run(Outbox(client, "stocks")))
        await asyncio.sleep(warmup)
        start = (time.perf_counter(), time.process_time(), published(), delivered.value)
        await asyncio.sleep(duration)
        end = (time.perf_counter(), time.process_time(), published(), delivered.value)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    elapsed, cpu, ticks, received = (b - a for a, b in zip(start, end, strict=True))
    return {
        "published": ticks / elapsed,
        "delivered": received / elapsed,
        "cpu_per_tick": cpu / ticks * 1e6 if ticks else 0.0,
        "cpu_share": cpu / elapsed * 100,
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rates",
        type=float,
        nargs="+",
        default=[5000.0, 10000.0, 20000.0, 40000.0],
        help="WSLAB_TICK_RATE values to measure (default: 5000 10000 20000 40000)",
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per rate")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    parser.add_argument("--ticks", type=int, default=300_000, help="ticks timed in process")
    parser.add_argument("--redis-url", help="an existing Redis; default: start a container")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print the figures."""
    args = parse_args(argv)
    print(f"Python:     {platform.python_implementation()} {platform.python_version()}")
    print(f"Platform:   {platform.platform()}")
    print(f"CPU:        {cpu_model()} ({os.cpu_count()} logical CPUs)")
    print(f"redis-py:   {redis.__version__}; {len(STOCKS)} symbols")
    print(f"Load avg:   {load_average()}\n", flush=True)

    raw, quoted = simulation_rates(args.ticks)
    print(f"In process, {args.ticks:,} ticks each:")
    print(f"  Market.tick() alone:               {raw:>12,.0f} ticks/s ({1e6 / raw:.2f} µs)")
    print(f"  with the quote and its JSON text:  {quoted:>12,.0f} ticks/s ({1e6 / quoted:.2f} µs)")

    with redis_server(args.redis_url) as url:
        info = redis.Redis.from_url(url).info("server")
        print(f"\nAgainst Redis {info['redis_version']} at {url}, with one subscriber process")
        print(f"to {PATTERN}; {args.warmup:g} s warm-up, then {args.duration:g} s measured:\n")
        print("| WSLAB_TICK_RATE | published ticks/s | delivered quotes/s | CPU µs/tick | CPU % |")
        print("|---:|---:|---:|---:|---:|", flush=True)
        context = multiprocessing.get_context("spawn")
        ready, stop = context.Event(), context.Event()
        delivered = context.Value("q", 0)
        counter = context.Process(target=count_quotes, args=(url, ready, stop, delivered))
        counter.start()
        try:
            if not ready.wait(30):
                raise SystemExit("the subscriber process did not subscribe")
            for rate in args.rates:
                r = asyncio.run(measure(url, rate, args.warmup, args.duration, delivered))
                print(
                    f"| {rate:,.0f} | {r['published']:,.0f} | {r['delivered']:,.0f} "
                    f"| {r['cpu_per_tick']:.1f} | {r['cpu_share']:.0f} |",
                    flush=True,
                )
        finally:
            stop.set()
            counter.join(10)
    print(f"\nLoad avg at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
