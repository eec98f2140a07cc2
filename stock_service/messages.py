"""The stock service's messages (docs/MESSAGES.md, "Stock quotes")."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from servicekit import ClientError

__all__ = ["UNKNOWN_SYMBOL", "Request", "parse", "quote", "subscribed", "unknown_symbols"]

UNKNOWN_SYMBOL = "unknown_symbol"
"""The error code for a request naming symbols the service does not quote."""

Action = Literal["subscribe", "unsubscribe"]

_SEPARATORS = re.compile(r"[\s,]+")
# How many unknown symbols an error message names; the gateway bounds the rest.
_MAX_NAMED = 10


@dataclass(frozen=True, kw_only=True)
class Request:
    """A client subscribes to symbols, or unsubscribes from them.

    Attributes:
        action: ``subscribe`` or ``unsubscribe``.
        symbols: upper-cased, without duplicates, in the client's order.
    """

    action: Action
    symbols: tuple[str, ...]


def parse(payload: str) -> Request:
    """Parse a client's message.

    A JSON object must be ``{"type": "subscribe" | "unsubscribe", "symbols": [...]}``;
    any other payload is a line of symbols to subscribe to, separated by spaces or commas.

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


def quote(symbol: str, price: float, seq: int, ts: float) -> dict[str, object]:
    """Return a ``quote`` message."""
    return {"type": "quote", "symbol": symbol, "price": price, "seq": seq, "ts": ts}


def subscribed(symbols: list[str]) -> dict[str, object]:
    """Return the ``subscribed`` message listing every symbol a client now receives."""
    return {"type": "subscribed", "symbols": sorted(symbols)}
