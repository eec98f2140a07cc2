"""The stock service's messages (docs/MESSAGES.md, "Stock quotes")."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from servicekit import ClientError

from .stocks import Stock

__all__ = [
    "ALL",
    "UNKNOWN_SYMBOL",
    "Quote",
    "Request",
    "parse",
    "quote",
    "snapshot",
    "subscribed",
    "symbols",
    "unknown_symbols",
]

UNKNOWN_SYMBOL = "unknown_symbol"
"""The error code for a request naming symbols the service does not quote."""

ALL = "*"
"""In a subscribe or unsubscribe request, stands for every symbol."""

Action = Literal["list", "subscribe", "unsubscribe"]

_SEPARATORS = re.compile(r"[\s,]+")
# How many unknown symbols an error message names; the gateway bounds the rest.
_MAX_NAMED = 10


# A named tuple rather than a dataclass: the feed makes thousands each second.
class Quote(NamedTuple):
    """A symbol's price at one tick, as clients receive it.

    Attributes:
        symbol: the stock's symbol.
        price: its price in USD, rounded to cents.
        change: the price less the stock's reference price, rounded to cents.
        change_pct: that change in percent of the reference price, rounded to 2 decimals.
        seq: the tick's number among the symbol's ticks, from 1; 0 for the reference
            price, before the first tick.
        ts: when the service published it, in Unix time (seconds).
    """

    symbol: str
    price: float
    change: float
    change_pct: float
    seq: int
    ts: float

    @classmethod
    def of(cls, stock: Stock, price: float, seq: int, ts: float) -> Quote:
        """Return the quote of ``stock`` at ``price``, at full precision, rounding it."""
        change = price - stock.price
        # + 0.0 turns the -0.0 that rounding a small loss gives into 0.0.
        return cls(
            stock.symbol,
            round(price, 2),
            round(change, 2) + 0.0,
            round(change / stock.price * 100, 2) + 0.0,
            seq,
            ts,
        )

    def fields(self) -> dict[str, object]:
        """Return the quote as a JSON object without ``type``, as in a ``snapshot``."""
        return {
            "symbol": self.symbol,
            "price": self.price,
            "change": self.change,
            "change_pct": self.change_pct,
            "seq": self.seq,
            "ts": self.ts,
        }


@dataclass(frozen=True, kw_only=True)
class Request:
    """A client asks for the list of symbols, or subscribes or unsubscribes.

    Attributes:
        action: ``list``, ``subscribe`` or ``unsubscribe``.
        symbols: upper-cased, without duplicates, in the client's order; ``*`` (:data:`ALL`)
            stands for every symbol. Empty for ``list``.
    """

    action: Action
    symbols: tuple[str, ...] = ()


def parse(payload: str) -> Request:
    """Parse a client's message.

    A JSON object must be ``{"type": "list"}`` or
    ``{"type": "subscribe" | "unsubscribe", "symbols": [...]}``; any other payload is a line
    of symbols to subscribe to, separated by spaces or commas.

    Raises:
        ClientError: a JSON object that is not a valid request (``bad_request``).
    """
    try:
        message = json.loads(payload)
    except (ValueError, RecursionError):  # Deep nesting overflows the parser.
        message = None
    if not isinstance(message, dict):
        return Request(action="subscribe", symbols=_clean(_SEPARATORS.split(payload)))
    action = message.get("type")
    if action == "list":
        return Request(action="list")
    if action not in ("subscribe", "unsubscribe"):
        raise ClientError("missing type" if action is None else f"unknown type {action!r:.40}")
    symbols = message.get("symbols")
    if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
        raise ClientError(f"{action} needs a list of symbols")
    return Request(action=action, symbols=_clean(symbols))


def _clean(symbols: list[str]) -> tuple[str, ...]:
    # dict keeps the first occurrence of each, in order.
    return tuple(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))


def unknown_symbols(symbols: list[str]) -> str:
    """Return the error message naming unknown symbols (at most ten, then a count)."""
    named = ", ".join(f"{s:.12}" for s in symbols[:_MAX_NAMED])
    more = len(symbols) - _MAX_NAMED
    plural = "s" if len(symbols) > 1 else ""
    return f"unknown symbol{plural}: {named}" + (f" and {more} more" if more > 0 else "")


def quote(q: Quote) -> dict[str, object]:
    """Return a ``quote`` message: the quote's fields after ``"type": "quote"``."""
    return {"type": "quote", **q.fields()}


def snapshot(quotes: Iterable[Quote]) -> dict[str, object]:
    """Return a ``snapshot`` message: the given quotes, each without ``type``."""
    return {"type": "snapshot", "quotes": [q.fields() for q in quotes]}


def symbols(stocks: Iterable[Stock]) -> dict[str, object]:
    """Return the ``symbols`` message: each stock's symbol, name and reference price."""
    return {
        "type": "symbols",
        "symbols": [{"symbol": s.symbol, "name": s.name, "price": s.price} for s in stocks],
    }


def subscribed(symbols: Iterable[str]) -> dict[str, object]:
    """Return the ``subscribed`` message listing every symbol a client now receives."""
    return {"type": "subscribed", "symbols": sorted(symbols)}
