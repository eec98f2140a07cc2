"""The feed against a real Redis, with the test playing the gateway.

Where it matters when ticks fall due and batches go, the feed runs on a :class:`ManualClock`
that only the test moves: what it publishes then depends on no machine's speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

import bus
from servicekit import Outbox
from stock_service import STOCKS, Feed, FeedStopped, Market, ReplayError, Tick, Timed, topic
from tests.servicekit.fake_gateway import FakeGateway, Published
from tests.waiting import within

STOCK = {stock.symbol: stock for stock in STOCKS}
NEVER = Timed(math.inf, Tick("MSFT", 1.0))


class ManualClock:
    """A feed's clock that stands still until the test moves it on."""

    def __init__(self) -> None:
        self.now = 0.0
        self._moved = asyncio.Event()

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        deadline = self.now + seconds
        while self.now < deadline:
            await self._moved.wait()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self._moved.set()
        self._moved = asyncio.Event()


async def step(feed: Feed, clock: ManualClock, seconds: float, *commands: bus.Command) -> None:
    """Move ``clock`` on by ``seconds``; return once the feed has published its next batch,
    which starts with ``commands``."""
    published = feed.send("gw-test", commands)
    clock.advance(seconds)
    await within(published, f"the feed's batch at {clock.now:g} s")


def ticks(*timed: Timed) -> Iterator[Timed]:
    """These ticks, then no more."""
    return itertools.chain(timed, [NEVER])


def at(seconds: float, symbol: str, price: float) -> Timed:
    return Timed(seconds, Tick(symbol, price))


@contextlib.asynccontextmanager
async def running(feed: Feed, redis_url: str) -> AsyncIterator[asyncio.Task[None]]:
    async with Redis.from_url(redis_url) as client:
        task = asyncio.create_task(feed.run(Outbox(client, "stocks")))
        try:
            yield task
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def published(gateway: FakeGateway, n: int) -> list[Any]:
    items = [await gateway.next() for _ in range(n)]
    assert all(isinstance(item, Published) for item in items), items
    return [item.message for item in items if isinstance(item, Published)]


def listened(symbols: Iterable[str]) -> list[str]:
    return [topic(symbol) for symbol in symbols]


async def test_each_tick_is_published_on_its_topic_with_a_seq_per_symbol(
    redis_url: str, gateway: FakeGateway
) -> None:
    feed = Feed(
        ticks(at(0, "MSFT", 28.0), at(0, "AAPL", 320.0), at(0, "MSFT", 27.5)),
        STOCKS,
        interval=0.01,
        max_batch=100,
    )
    await gateway.listen(*listened(["MSFT", "AAPL"]))
    async with running(feed, redis_url):
        first, second, third = await published(gateway, 3)
    ts = first["ts"]
    assert (first, second, third) == (
        {"type": "quote", "symbol": "MSFT", "price": 28.0, "change": 0.09, "change_pct": 0.32,
         "seq": 1, "ts": ts},
        {"type": "quote", "symbol": "AAPL", "price": 320.0, "change": -2.56, "change_pct": -0.79,
         "seq": 1, "ts": ts},
        {"type": "quote", "symbol": "MSFT", "price": 27.5, "change": -0.41, "change_pct": -1.47,
         "seq": 2, "ts": ts},
    )  # fmt: skip


async def test_the_quotes_hash_holds_the_text_of_each_symbols_latest_quote(
    redis_url: str, gateway: FakeGateway
) -> None:
    feed = Feed(
        ticks(at(0, "MSFT", 28.0), at(0, "MSFT", 27.5), at(0.1, "IBM", 150.0)),
        STOCKS,
        interval=0.01,
        max_batch=100,
    )
    await gateway.listen(*listened(["MSFT", "IBM"]))
    async with running(feed, redis_url):
        await published(gateway, 3)
        texts = await gateway.redis.hgetall(bus.QUOTES_KEY)
    quotes = {key.decode(): json.loads(value) for key, value in texts.items()}
    assert sorted(quotes) == [stock.symbol for stock in STOCKS]
    for symbol, quote in quotes.items():
        assert texts[symbol.encode()].decode() == json.dumps(quote)  # the text published
        assert quote == {"type": "quote", **feed.latest[symbol].fields()}
    assert (quotes["MSFT"]["seq"], quotes["IBM"]["seq"], quotes["AAPL"]["seq"]) == (2, 1, 0)
    assert quotes["AAPL"]["price"] == STOCK["AAPL"].price  # no tick yet: the reference


async def test_commands_come_after_the_ticks_in_latest_and_before_all_others(
    redis_url: str, gateway: FakeGateway
) -> None:
    clock = ManualClock()
    feed = Feed(
        ticks(at(0, "MSFT", 28.0), at(0.25, "MSFT", 28.1)),
        STOCKS,
        interval=0.5,
        max_batch=100,
        clock=clock,
    )
    await gateway.listen(topic("MSFT"))
    async with running(feed, redis_url):
        assert (await gateway.published(topic("MSFT")))["seq"] == 1
        assert feed.latest["MSFT"].seq == 1
        # The next batch holds both the command and the second tick, due meanwhile.
        await step(feed, clock, 0.5, bus.Send(conn="gw-test.1", payload="after seq 1"))
        assert (await gateway.next()) == bus.Send(conn="gw-test.1", payload="after seq 1")
        assert (await gateway.published(topic("MSFT")))["seq"] == 2


async def test_a_batch_holds_at_most_max_batch_ticks_then_the_lag_is_forgotten(
    redis_url: str, gateway: FakeGateway
) -> None:
    clock = ManualClock()
    feed = Feed(
        ticks(*(at(0, "MSFT", 28.0) for _ in range(250)), at(0.375, "MSFT", 29.0)),
        STOCKS,
        interval=0.25,
        max_batch=100,
        clock=clock,
    )
    await gateway.listen(topic("MSFT"))
    start = bus.Send(conn="gw-test.1", payload="a batch starts")
    async with running(feed, redis_url):
        for seconds in [0, 0.25, 0.25, 0.25]:  # The first batch, then each one on time.
            await step(feed, clock, seconds, start)
        items = [await gateway.next() for _ in range(4 + 251)]
    batches: list[list[Any]] = []
    for item in items:
        if item == start:
            batches.append([])
        else:
            assert isinstance(item, Published), item
            batches[-1].append(item.message)
    # Without forgetting the lag, the last tick, due at 0.375 s, would come with the third
    # batch, 0.5 s after the start.
    assert [len(batch) for batch in batches] == [100, 100, 50, 1]
    assert [q["seq"] for batch in batches for q in batch] == list(range(1, 252))


async def test_ticks_are_published_at_the_rate(redis_url: str) -> None:
    rate = 400.0
    clock = ManualClock()
    feed = Feed(Market(seed=1).timed(rate), STOCKS, interval=0.01, max_batch=10_000, clock=clock)
    async with running(feed, redis_url):
        for seconds in [0, 0.5, 0.5]:  # The first batch, then half a second later, twice.
            await step(feed, clock, seconds)
            # Every tick due, at 0 s, 1/400 s, 2/400 s... up to now: no fewer, no more.
            assert sum(quote.seq for quote in feed.latest.values()) == rate * clock.now + 1


async def test_without_redis_the_senders_get_the_error_and_the_feed_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    feed = Feed(Market(seed=1).timed(1000), STOCKS, interval=0.01, max_batch=100)
    with caplog.at_level(logging.WARNING, logger="wslab.stocks"):
        async with running(feed, "redis://127.0.0.1:1/0") as task:
            for _ in range(2):
                with pytest.raises(RedisConnectionError):
                    await feed.send("gw-test", [bus.Send(conn="gw-test.1", payload="hello")])
            assert not task.done()
            assert sum(quote.seq for quote in feed.latest.values()) > 0  # lost, not stuck
    warnings = [r.getMessage() for r in caplog.records if r.name == "wslab.stocks"]
    assert len(warnings) == 1
    assert warnings[0].startswith("! cannot publish quotes: ")


async def test_a_feed_stopped_while_it_publishes_stops_at_once(redis_url: str) -> None:
    # Cancelling redis-py in the middle of a pipeline could stall it for its socket timeout.
    async with Redis.from_url(redis_url) as client:
        outbox = Outbox(client, "stocks")
        for delay in [0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05] * 3:
            feed = Feed(Market(seed=1).timed(20_000), STOCKS, interval=0.01, max_batch=10_000)
            task = asyncio.create_task(feed.run(outbox))
            await asyncio.sleep(delay)
            task.cancel()
            # The client has no socket timeout: a stalled pipeline would never end.
            await within(asyncio.wait({task}), f"the feed to stop, cancelled after {delay} s")


async def test_commands_not_yet_published_when_the_feed_stops_fail(redis_url: str) -> None:
    clock = ManualClock()
    feed = Feed(ticks(), STOCKS, interval=0.01, max_batch=100, clock=clock)
    async with running(feed, redis_url) as task:
        await step(feed, clock, 0)  # The first batch is out; the clock stops before the next.
        sent = feed.send("gw-test", [bus.Send(conn="gw-test.1", payload="hello")])
        task.cancel()
    with pytest.raises(FeedStopped):
        await sent


async def test_the_feed_stops_with_the_error_of_its_ticks(redis_url: str) -> None:
    def failing() -> Iterator[Timed]:
        yield at(0, "MSFT", 28.0)
        raise ReplayError("quotes.csv:3: unknown symbol 'XYZ'")

    feed = Feed(failing(), STOCKS, interval=0.01, max_batch=100)
    async with Redis.from_url(redis_url) as client:
        with pytest.raises(ReplayError, match="unknown symbol"):
            await within(
                feed.run(Outbox(client, "stocks")),
                "the feed to stop with the error of its ticks",
            )
