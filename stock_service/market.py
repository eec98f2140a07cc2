"""A simulated stock market: seeded geometric Brownian motion, one symbol per tick.

The simulation keeps no clock of its own: each call to :meth:`Market.tick` moves one
symbol, in turn, and stands for ``1 / tick_rate`` seconds of market time. Each symbol's
log price then takes a normal step of mean ``-sigma**2 * dt / 2`` and standard deviation
``sigma * sqrt(dt)`` (no drift), where ``sigma`` is the stock's volatility and ``dt`` the
time between two of its own ticks. The same seed gives the same prices, tick after tick.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["STOCKS", "Market", "Quote", "Stock"]


@dataclass(frozen=True, kw_only=True)
class Stock:
    """A quoted stock.

    Attributes:
        symbol: its ticker symbol, upper-case.
        price: its reference price in USD, where the simulation starts.
        volatility: the standard deviation of its log price over one minute of market
            time. A real stock's is about 0.1%; ours are ten times livelier, for the demo.
    """

    symbol: str
    price: float
    volatility: float


# Reference prices: about where each stock closed on 31 December 2010, when the HTML5
# Labs prototype shipped (SAP: its ADR on the NYSE, in USD).
STOCKS = (
    Stock(symbol="AAPL", price=322.56, volatility=0.010),
    Stock(symbol="AMZN", price=180.00, volatility=0.012),
    Stock(symbol="CSCO", price=20.23, volatility=0.009),
    Stock(symbol="GOOG", price=593.97, volatility=0.010),
    Stock(symbol="IBM", price=146.76, volatility=0.007),
    Stock(symbol="INTC", price=21.03, volatility=0.009),
    Stock(symbol="MSFT", price=27.91, volatility=0.008),
    Stock(symbol="NVDA", price=15.40, volatility=0.015),
    Stock(symbol="ORCL", price=31.30, volatility=0.010),
    Stock(symbol="SAP", price=50.61, volatility=0.009),
)


@dataclass(frozen=True)
class Quote:
    """One tick: ``symbol``'s new price, rounded to cents, and its ``seq`` (from 1)."""

    symbol: str
    price: float
    seq: int


class Market:
    """The simulated prices of some stocks.

    Args:
        stocks: the stocks quoted; they tick in the order of their symbols.
        seed: the seed of the simulation's random numbers.
        tick_rate: ticks per second of market time, all symbols together.
    """

    def __init__(self, stocks: Iterable[Stock] = STOCKS, *, seed: int, tick_rate: float) -> None:
        self.stocks = {stock.symbol: stock for stock in sorted(stocks, key=lambda s: s.symbol)}
        if not self.stocks or tick_rate <= 0:
            raise ValueError("a market needs stocks and a positive tick rate")
        self.tick_rate = tick_rate
        #: Minutes of market time between two ticks of the same symbol.
        self.dt = len(self.stocks) / tick_rate / 60
        self._rng = random.Random(seed)
        self._prices = {symbol: stock.price for symbol, stock in self.stocks.items()}
        self._seqs = dict.fromkeys(self.stocks, 0)
        self._order = list(self.stocks)
        self._turn = 0

    @property
    def symbols(self) -> list[str]:
        """The symbols quoted, sorted."""
        return list(self._order)

    def price(self, symbol: str) -> float:
        """Return the current price of ``symbol``, unrounded."""
        return self._prices[symbol]

    def tick(self) -> Quote:
        """Move the next symbol's price one step and return its quote."""
        symbol = self._order[self._turn]
        self._turn = (self._turn + 1) % len(self.stocks)
        sigma = self.stocks[symbol].volatility
        step = -sigma * sigma * self.dt / 2 + sigma * math.sqrt(self.dt) * self._rng.gauss(0.0, 1.0)
        self._prices[symbol] *= math.exp(step)
        self._seqs[symbol] += 1
        return Quote(symbol, round(self._prices[symbol], 2), self._seqs[symbol])
