"""The stock-quote service: a feed of quotes, and subscriptions to its symbols.

The quotes come from a seeded simulation (:mod:`stock_service.market`) or a replay of
recorded quotes (:mod:`stock_service.replay`, with ``WSLAB_REPLAY``). The feed
(:mod:`stock_service.feed`) publishes every tick on the symbol's topic,
``quotes.<SYMBOL>``, whether or not anyone listens, and keeps the latest quote of each
symbol in the hash ``bus.QUOTES_KEY``; a client's subscriptions are ``Subscribe`` commands
for those topics, so that each gateway receives each quote once and fans it out. Each
connection's symbols are kept in this process's memory, by connection id.

Run a **single replica** of this service: each replica runs its own feed, so two would
publish every symbol's ticks twice, with clashing ``seq``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import bus
import servicekit
from servicekit import Context, Handlers, Outbox, RateLimits, ServiceSettings, encode, setting
from servicekit.limits import DEFAULT_BURST, DEFAULT_RATE

from .feed import Feed, topic
from .market import Market, Timed
from .messages import (
    ALL,
    UNKNOWN_SYMBOL,
    parse,
    snapshot,
    subscribed,
    symbols,
    unknown_symbols,
)
from .replay import Replay, ReplayError
from .stocks import STOCKS

__all__ = ["NAME", "StockHandlers", "StockSettings", "main", "make_handlers"]

NAME = "stocks"
"""The service's name on the bus: it reads ``wslab:svc:stocks``."""


@dataclass(frozen=True, kw_only=True)
class StockSettings(ServiceSettings):
    """The common settings, plus the feed's.

    Attributes:
        seed: the simulation's seed (``WSLAB_SEED``); the same seed gives the same prices.
        tick_rate: the simulation's quotes per second, all symbols together
            (``WSLAB_TICK_RATE``); with 60 symbols, 100 gives each about 1.7 a second.
        publish_interval: seconds between two batches of quotes
            (``WSLAB_PUBLISH_INTERVAL``).
        max_batch: the most quotes in one batch (``WSLAB_MAX_BATCH``); more than that
            due at once, and the feed falls behind instead of catching up.
        replay: a CSV file of recorded quotes to replay instead of simulating
            (``WSLAB_REPLAY``); empty: simulate.
        replay_speed: how many times faster than recorded to replay, at least 1
            (``WSLAB_REPLAY_SPEED``).
    """

    seed: int = setting("WSLAB_SEED", 2010, "the seed of the simulated prices")
    tick_rate: float = setting("WSLAB_TICK_RATE", 100.0, "simulated quotes per second, all symbols")
    publish_interval: float = setting(
        "WSLAB_PUBLISH_INTERVAL", 0.01, "seconds between two batches of quotes"
    )
    max_batch: int = setting("WSLAB_MAX_BATCH", 10_000, "the most quotes in one batch")
    replay: str = setting("WSLAB_REPLAY", "", "a CSV file of quotes to replay; empty: simulate")
    replay_speed: float = setting("WSLAB_REPLAY_SPEED", 1.0, "replay this many times faster")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.tick_rate <= 0:
            raise ValueError("tick rate must be positive")
        if not 0 < self.publish_interval <= 1:
            raise ValueError("publish interval must be more than 0 and at most 1 second")
        if self.max_batch < 1:
            raise ValueError("max batch must be at least 1")
        if self.replay_speed < 1:
            raise ValueError("replay speed must be at least 1")


class StockHandlers(Handlers):
    """Lists the symbols, manages each client's subscriptions and runs the feed.

    Args:
        feed: the feed of quotes.

    Attributes:
        subscriptions: the symbols each connection receives, by connection id.
    """

    def __init__(self, feed: Feed, limits: RateLimits | None = None) -> None:
        self.feed = feed
        self.limits = limits or RateLimits(DEFAULT_RATE, DEFAULT_BURST)
        self.subscriptions: dict[str, set[str]] = {}

    async def on_message(self, ctx: Context, text: str) -> None:
        """Answer ``list``, or apply a subscribe or unsubscribe request.

        A request's unknown symbols are named in an ``unknown_symbol`` error; the known
        ones still apply. Then come, through the feed, so that no tick slips in between:
        for a subscribe, ``subscribed``, a ``snapshot`` of the symbols' latest quotes and
        the ``Subscribe`` commands; for an unsubscribe, the ``Unsubscribe`` commands and
        ``subscribed``.

        A connection may send ``WSLAB_RATE`` requests a second (``WSLAB_BURST`` at once):
        one over it gets ``rate_limited`` and nothing else, so that nobody can make the
        service send the symbol list over and over.
        """
        self.limits.check(ctx.conn.id, ctx.envelope.received_at)
        request = parse(text)
        if request.action == "list":
            await ctx.reply(symbols(self.feed.stocks.values()))
            return
        stocks = self.feed.stocks
        unknown = [s for s in request.symbols if s not in stocks and s != ALL]
        if unknown:
            await ctx.reply(servicekit.error(UNKNOWN_SYMBOL, unknown_symbols(unknown)))
        known = [s for s in request.symbols if s in stocks]
        wanted = list(stocks) if ALL in request.symbols else known
        conn = ctx.conn.id
        current = self.subscriptions.pop(conn, set())
        # Commands are sent even if nothing changes here: after a restart of this service,
        # only the gateway knows what the connection receives.
        commands: list[bus.Command]
        if request.action == "subscribe":
            current.update(wanted)
            commands = [bus.Send(conn=conn, payload=encode(subscribed(current)))]
            if wanted:
                latest = snapshot(self.feed.latest[symbol] for symbol in wanted)
                commands.append(bus.Send(conn=conn, payload=encode(latest)))
            commands += (bus.Subscribe(conn=conn, topic=topic(s), conflate=True) for s in wanted)
        else:
            current.difference_update(wanted)
            commands = [bus.Unsubscribe(conn=conn, topic=topic(s)) for s in wanted]
            commands.append(bus.Send(conn=conn, payload=encode(subscribed(current))))
        if current:
            self.subscriptions[conn] = current
        await self.feed.send(ctx.conn.gateway, commands)

    async def on_close(self, ctx: Context) -> None:
        """Forget the connection's symbols and its rate."""
        self.subscriptions.pop(ctx.conn.id, None)
        self.limits.forget(ctx.conn.id)

    async def background(self, outbox: Outbox) -> None:
        """Run the feed until cancelled."""
        await self.feed.run(outbox)


def make_handlers(settings: StockSettings) -> StockHandlers:
    """Return the handlers of a stock service with these settings.

    Raises:
        ReplayError: ``settings.replay`` names a file that cannot be read or is not valid;
            the error is logged first, since the service cannot start.
    """
    ticks: Iterator[Timed]
    if settings.replay:
        try:
            replay = Replay(settings.replay, {stock.symbol for stock in STOCKS})
        except ReplayError as exc:
            logging.getLogger(f"wslab.{NAME}").error("! %s service cannot start: %s", NAME, exc)
            raise
        ticks = replay.timed(settings.replay_speed)
    else:
        ticks = Market(STOCKS, seed=settings.seed).timed(settings.tick_rate)
    feed = Feed(ticks, STOCKS, interval=settings.publish_interval, max_batch=settings.max_batch)
    return StockHandlers(feed, RateLimits(settings.rate, settings.burst))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the stock service: ``python -m stock_service [--help]``; return the exit status."""
    return servicekit.main(
        NAME,
        make_handlers,
        settings_cls=StockSettings,
        prog="python -m stock_service",
        description="The wslab stock-quote service: simulated or replayed quotes on the bus.",
        argv=argv,
    )
