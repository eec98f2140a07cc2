"""The stocks the service quotes, read from ``stock_service/data/symbols.csv``.

The file has one row per stock: ``symbol,name,price,drift,volatility``. ``price`` is the
reference price, in USD: about where the stock closed at the end of 2010, when the HTML5
Labs prototype shipped (SAP: its ADR on the NYSE). ``drift`` and ``volatility`` are
annualised, plausible for each stock but not estimated from market data: they only shape
the simulation (:mod:`stock_service.market`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

__all__ = ["STOCKS", "Stock"]

_FILE = resources.files(__package__) / "data" / "symbols.csv"


@dataclass(frozen=True, kw_only=True)
class Stock:
    """A quoted stock.

    Attributes:
        symbol: its ticker symbol, upper-case.
        name: the company's name, for example ``Microsoft``.
        price: its reference price in USD: where the simulation starts, and what each
            quote's ``change`` is measured from.
        drift: the expected annual return of its price, 0.06 for 6%.
        volatility: the annualised standard deviation of its log price, 0.24 for 24%.
    """

    symbol: str
    name: str
    price: float
    drift: float
    volatility: float


def _load() -> tuple[Stock, ...]:
    rows = csv.DictReader(_FILE.read_text(encoding="utf-8").splitlines())
    return tuple(
        Stock(
            symbol=row["symbol"],
            name=row["name"],
            price=float(row["price"]),
            drift=float(row["drift"]),
            volatility=float(row["volatility"]),
        )
        for row in rows
    )


STOCKS = _load()
"""Every stock the service quotes, sorted by symbol."""
