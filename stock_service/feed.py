"""The quote feed: ticks published in paced batches, with the commands that go between them.

Every ``interval`` seconds the feed takes the ticks that have fallen due, numbers each
symbol's ticks (``seq``, from 1) and publishes them in one ``servicekit.Batch`` (one round
trip to Redis), in this order:

1. the commands handed to :meth:`Feed.send` since the last batch;
2. a ``quote`` message on ``quotes.<SYMBOL>`` for each tick;

with, in the same round trip, ``HSET`` of ``bus.QUOTES_KEY``: each symbol of the batch ->
the JSON text of its last quote, the very text published (every symbol, in the first batch
and after a failure).

So no tick is awaited on its own, and the rate only paces publishing: which ticks come, and
their prices, depend on the source alone. A gateway reads its commands and its topics on one
Redis connection, in Redis's order, which is the feed's: commands built from
:attr:`Feed.latest` and sent with :meth:`Feed.send` (a snapshot, then ``Subscribe``
commands) reach it after the ticks already in :attr:`Feed.latest` and before all others.

**Falling behind.** A batch holds at most ``max_batch`` ticks. When more are due (the
process stalled, Redis was slow), the feed publishes ``max_batch`` of them and forgets the
rest of the lag: the ticks after them fall due later than planned; none is skipped.

**Time.** The feed paces itself by a :class:`Clock`, the event loop's unless it is given
another: a test moves its own clock to say which ticks are due and when batches go.

**Redis down.** A batch that cannot be published is lost: the ``seq`` of its ticks are
skipped, and the futures of its commands raise the error. The feed goes on; it logs a warning
when publishing starts to fail, and a note when it works again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from typing import Protocol

from redis.exceptions import RedisError

import bus
from servicekit import Outbox, encode
from servicekit.context import Batch

from .market import Timed
from .messages import Quote, quote
from .stocks import Stock

__all__ = ["Clock", "Feed", "FeedStopped", "LoopClock", "topic"]


def topic(symbol: str) -> str:
    """Return the topic of a symbol's quotes: ``quotes.MSFT``."""
    return f"quotes.{symbol}"


class FeedStopped(RuntimeError):
    """The feed stopped before it could publish the commands given to :meth:`Feed.send`."""


class Clock(Protocol):
    """What the feed paces itself by: seconds from any origin, and a wait for them."""

    def time(self) -> float:
        """Return the current time, in seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` have passed on this clock."""
        ...


class LoopClock:
    """The running event loop's clock."""

    def time(self) -> float:
        """Return the loop's time."""
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(seconds)


class Feed:
    """Publishes ticks as they fall due, with the latest quote of each symbol.

    Args:
        ticks: the ticks, endless, in order, each with when it falls due.
        stocks: every stock quoted; the ticks name no other.
        interval: seconds between two batches.
        max_batch: the most ticks a batch holds.
        clock: what says when ticks fall due and batches go; the event loop's by default.

    Attributes:
        stocks: the same, by symbol, in the order given.
        latest: the latest quote of each symbol, by symbol, in the order of ``stocks``;
            before a symbol's first tick, its reference price with ``seq`` 0.
    """

    def __init__(
        self,
        ticks: Iterator[Timed],
        stocks: Iterable[Stock],
        *,
        interval: float,
        max_batch: int,
        clock: Clock | None = None,
    ) -> None:
        self.stocks = {stock.symbol: stock for stock in stocks}
        now = time.time()
        self.latest = {s: Quote.of(stock, stock.price, 0, now) for s, stock in self.stocks.items()}
        self.interval = interval
        self.max_batch = max_batch
        self.clock = LoopClock() if clock is None else clock
        self._ticks = ticks
        # What send() was given since the last batch: gateway, commands, future.
        self._pending: list[tuple[str, list[bus.Command], asyncio.Future[None]]] = []
        self._complete = False  # Whether the hash holds the latest quote of every symbol.
        self._failing = False  # Whether the last batch could not be published.

    def send(self, gateway: str, commands: Iterable[bus.Command]) -> asyncio.Future[None]:
        """Publish commands to a gateway in the next batch, before its ticks.

        They come after every tick already in :attr:`latest` and before all others: to send
        a snapshot of :attr:`latest`, build it and call this method with nothing awaited in
        between.

        Returns:
            A future, done once the commands are published. It raises what prevented it:
            ``RedisError`` or ``OSError``, or :class:`FeedStopped`.
        """
        future = asyncio.get_running_loop().create_future()
        self._pending.append((gateway, list(commands), future))
        return future

    async def run(self, outbox: Outbox) -> None:
        """Publish a batch every ``interval`` seconds, until cancelled.

        A cancellation that comes while a batch is being published waits for it.

        Raises:
            Exception: what the ticks raised; for example, a replay file has become invalid
                (``ReplayError``).
        """
        clock = self.clock
        start = clock.time()
        upcoming = next(self._ticks)
        waiting: list[asyncio.Future[None]] = []
        try:
            while True:
                began = clock.time()
                batch = outbox.batch()
                waiting = self._add_commands(batch)
                elapsed = began - start
                upcoming = self._add_ticks(batch, upcoming, elapsed)
                if upcoming.at <= elapsed:  # Behind by more than a batch: forget the lag.
                    start += elapsed - upcoming.at
                if len(batch):
                    # Shielded: cancelling redis-py in the middle of a pipeline can stall it
                    # until its socket timeout (seconds), so a cancellation waits for it.
                    publishing = asyncio.ensure_future(self._execute(batch, waiting, outbox))
                    try:
                        await asyncio.shield(publishing)
                    except asyncio.CancelledError:
                        await publishing
                        raise
                await clock.sleep(max(0.0, began + self.interval - clock.time()))
        finally:
            _settle(waiting + [future for *_, future in self._pending], FeedStopped())
            self._pending.clear()

    def _add_commands(self, batch: Batch) -> list[asyncio.Future[None]]:
        # Add the commands given to send(); return their futures.
        for gateway, commands, _ in self._pending:
            for command in commands:
                batch.command(gateway, command)
        futures = [future for *_, future in self._pending]
        self._pending.clear()
        return futures

    def _add_ticks(self, batch: Batch, upcoming: Timed, elapsed: float) -> Timed:
        # Add the ticks due after ``elapsed`` seconds, from ``upcoming`` on, and the hash's
        # update; return the first tick left for later.
        ts = time.time()
        hashed: dict[str, str] = {}
        for _ in range(self.max_batch):
            if upcoming.at > elapsed:
                break
            symbol, price = upcoming.tick
            seq = self.latest[symbol].seq + 1
            latest = self.latest[symbol] = Quote.of(self.stocks[symbol], price, seq, ts)
            hashed[symbol] = text = encode(quote(latest))
            batch.publish(topic(symbol), text)
            upcoming = next(self._ticks)
        if not self._complete:
            hashed = {symbol: encode(quote(q)) for symbol, q in self.latest.items()}
        if hashed:
            batch.pipeline.hset(bus.QUOTES_KEY, mapping=hashed)  # type: ignore[arg-type]
        return upcoming

    async def _execute(
        self, batch: Batch, waiting: list[asyncio.Future[None]], outbox: Outbox
    ) -> None:
        # Publish the batch, then settle the futures of its commands.
        try:
            await batch.execute()
        except (RedisError, OSError) as exc:
            if not self._failing:
                outbox.logger.warning("! cannot publish quotes: %s", exc)
            self._failing = True
            self._complete = False
            _settle(waiting, exc)
        else:
            if self._failing:
                outbox.logger.info("= publishing quotes again")
            self._failing = False
            self._complete = True
            _settle(waiting, None)


def _settle(futures: Iterable[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if future.done():  # Cancelled: its sender is gone.
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
