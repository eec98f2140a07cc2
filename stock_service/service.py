"""The stock-quote service: a simulated market, and subscriptions to its symbols.

Every tick publishes a ``quote`` to the symbol's topic, ``quotes.<SYMBOL>``, whether or not
anyone listens; a client's subscriptions are ``Subscribe`` commands for those topics, so
that each gateway receives each quote once and fans it out. Each connection's symbols are
kept in this process's memory, by connection id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from redis.exceptions import RedisError

import servicekit
from servicekit import Context, Handlers, Outbox, ServiceSettings, setting

from .market import Market
from .messages import UNKNOWN_SYMBOL, parse, quote, subscribed, unknown_symbols

__all__ = ["NAME", "StockHandlers", "StockSettings", "main", "topic"]

NAME = "stocks"
"""The service's name on the bus: it reads ``wslab:svc:stocks``."""

logger = logging.getLogger(f"wslab.{NAME}")


def topic(symbol: str) -> str:
    """Return the topic of a symbol's quotes: ``quotes.MSFT``."""
    return f"quotes.{symbol}"


@dataclass(frozen=True, kw_only=True)
class StockSettings(ServiceSettings):
    """The common settings, plus the simulation's.

    Attributes:
        seed: the simulation's seed (``WSLAB_SEED``); the same seed gives the same prices.
        tick_rate: quotes per second, all symbols together (``WSLAB_TICK_RATE``).
    """

    seed: int = setting("WSLAB_SEED", 2010, "the seed of the simulated prices")
    tick_rate: float = setting("WSLAB_TICK_RATE", 20.0, "quotes per second, all symbols")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.tick_rate <= 0:
            raise ValueError("tick rate must be positive")


class StockHandlers(Handlers):
    """Publishes the market's quotes and manages each client's subscriptions.

    Args:
        market: the simulated market; its tick rate paces the quotes.

    Attributes:
        subscriptions: the symbols each connection receives, by connection id.
    """

    def __init__(self, market: Market) -> None:
        self.market = market
        self.subscriptions: dict[str, set[str]] = {}

    async def on_message(self, ctx: Context, text: str) -> None:
        """Apply a subscribe or unsubscribe request and reply with the symbols now received.

        Unknown symbols are named in an ``unknown_symbol`` error; the known ones still apply.
        """
        request = parse(text)
        unknown = [s for s in request.symbols if s not in self.market.stocks]
        if unknown:
            await ctx.reply(servicekit.error(UNKNOWN_SYMBOL, unknown_symbols(unknown)))
        current = self.subscriptions.get(ctx.conn.id, set())
        for symbol in request.symbols:
            if symbol in unknown:
                continue
            # Commands are sent even if nothing changes here: after a restart of this
            # service, only the gateway knows what the connection receives.
            if request.action == "subscribe":
                current.add(symbol)
                await ctx.subscribe(topic(symbol))
            else:
                current.discard(symbol)
                await ctx.unsubscribe(topic(symbol))
        if current:
            self.subscriptions[ctx.conn.id] = current
        else:
            self.subscriptions.pop(ctx.conn.id, None)
        await ctx.reply(subscribed(sorted(current)))

    async def on_close(self, ctx: Context) -> None:
        """Forget the connection's symbols."""
        self.subscriptions.pop(ctx.conn.id, None)

    async def background(self, outbox: Outbox) -> None:
        """Publish a quote every ``1 / tick_rate`` seconds, until cancelled.

        A quote that cannot be published (Redis is down) is lost: its ``seq`` is skipped.
        """
        loop = asyncio.get_running_loop()
        interval = 1 / self.market.tick_rate
        next_at = loop.time()
        failing = False
        while True:
            tick = self.market.tick()
            message = quote(tick.symbol, tick.price, tick.seq, time.time())
            try:
                await outbox.publish(topic(tick.symbol), message)
            except (RedisError, OSError) as exc:
                if not failing:
                    logger.warning("! cannot publish quotes: %s", exc)
                failing = True
            else:
                if failing:
                    logger.info("= publishing quotes again")
                failing = False
            next_at += interval
            now = loop.time()
            next_at = max(next_at, now - interval)  # After a stall, resume; do not rush.
            await asyncio.sleep(max(0.0, next_at - now))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the stock service: ``python -m stock_service [--help]``; return the exit status."""
    return servicekit.main(
        NAME,
        lambda settings: StockHandlers(Market(seed=settings.seed, tick_rate=settings.tick_rate)),
        settings_cls=StockSettings,
        prog="python -m stock_service",
        description="The wslab stock-quote service: simulated quotes on the Redis bus.",
        argv=argv,
    )
