"""A simulated stock market: seeded geometric Brownian motion, one symbol per tick.

Each call to :meth:`Market.tick` picks a symbol at random, uniformly, and moves its price
by :data:`DT` of market time: its log price takes a normal step of mean
``(mu - sigma**2 / 2) * DT`` and standard deviation ``sigma * sqrt(DT)``, where ``mu`` and
``sigma`` are the stock's annualised drift and volatility. Both the pick and the step come
from one random generator seeded once, and no clock is read: the same seed (and the same
``symbols.csv``) gives the same prices, tick after tick, whatever the rate at which they
are published. :meth:`Market.timed` only says when each tick falls due.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from .stocks import STOCKS, Stock

__all__ = ["DT", "Market", "Tick", "Timed"]

DT = 1 / (252 * 390)
"""The market time one tick moves its symbol by, in years: one minute of trading, with
252 trading days of 6.5 hours a year."""


# Named tuples rather than dataclasses: thousands are made each second.
class Tick(NamedTuple):
    """A symbol's new price, at full precision."""

    symbol: str
    price: float


class Timed(NamedTuple):
    """A tick and when it falls due, in seconds after the feed started."""

    at: float
    tick: Tick


class Market:
    """The simulated prices of some stocks.

    Args:
        stocks: the stocks quoted, each starting at its reference price.
        seed: the seed of the simulation's random numbers.
    """

    def __init__(self, stocks: Iterable[Stock] = STOCKS, *, seed: int) -> None:
        self.stocks = {stock.symbol: stock for stock in stocks}
        if not self.stocks:
            raise ValueError("a market needs stocks")
        self._rng = random.Random(seed)
        self._symbols = list(self.stocks)
        self._prices = [stock.price for stock in self.stocks.values()]
        # Each stock's step is mean + scale * z, for a standard normal z.
        self._means = [(s.drift - s.volatility**2 / 2) * DT for s in self.stocks.values()]
        self._scales = [s.volatility * math.sqrt(DT) for s in self.stocks.values()]

    def price(self, symbol: str) -> float:
        """Return the current price of ``symbol``, at full precision."""
        return self._prices[self._symbols.index(symbol)]

    def tick(self) -> Tick:
        """Move a randomly picked symbol's price one step and return it."""
        i = self._rng.randrange(len(self._symbols))
        step = self._means[i] + self._scales[i] * self._rng.gauss(0.0, 1.0)
        self._prices[i] *= math.exp(step)
        return Tick(self._symbols[i], self._prices[i])

    def timed(self, rate: float) -> Iterator[Timed]:
        """Yield the market's ticks forever, due at ``rate`` ticks per second.

        Raises:
            ValueError: the rate is not positive.
        """
        if rate <= 0:
            raise ValueError("the tick rate must be positive")
        return (Timed(n / rate, self.tick()) for n in itertools.count())
