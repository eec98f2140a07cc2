"""``GET /api/quotes``: the latest stock quotes, read from the hash the stock service keeps.

With every tick the stock service sets its symbol's field of :data:`bus.QUOTES_KEY` to the
quote's JSON text, the ``quote`` message it publishes on ``quotes.<SYMBOL>``
(docs/MESSAGES.md). A client reads them here to show every price at once, instead of
waiting for each symbol's next tick.
"""

from __future__ import annotations

import logging
from typing import Literal

import redis.asyncio as redis
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from bus import QUOTES_KEY

__all__ = ["UNAVAILABLE", "Quote", "Quotes", "Unavailable", "parse_symbols", "read_quotes"]

logger = logging.getLogger("wslab.gateway")

UNAVAILABLE = "the quotes cannot be read: Redis is unreachable"
"""The ``detail`` of a 503."""

# Each field has an example, so that the OpenAPI page composes whole examples in order.


class Quote(BaseModel):
    """A symbol's latest quote: the last `quote` message of `quotes.<SYMBOL>`."""

    type: Literal["quote"] = Field(description="always `quote`")
    symbol: str = Field(description="the ticker symbol, upper-case", examples=["MSFT"])
    price: float = Field(description="the price, in USD", examples=[27.91])
    change: float = Field(
        description="the price less the stock's reference price, in USD", examples=[0.12]
    )
    change_pct: float = Field(
        description="that change in percent of the reference price", examples=[0.43]
    )
    seq: int = Field(
        description="the quote's number among its symbol's quotes, from 1; 0 for the "
        "reference price, before the first tick",
        examples=[17],
    )
    ts: float = Field(
        description="when the stock service published it, Unix time (s)", examples=[1732492800.1]
    )


class Quotes(BaseModel):
    """The answer of `GET /api/quotes`."""

    quotes: list[Quote] = Field(
        description="the latest quote of each symbol asked, in the order asked; of every "
        "symbol quoted, by symbol, if none were asked"
    )
    unknown: list[str] = Field(
        description="the symbols asked that have no quote, in the order asked: the stock "
        "service does not quote them, or has not yet",
        examples=[["XYZ"]],
    )


class Unavailable(BaseModel):
    """The answer of `GET /api/quotes` when the quotes cannot be read: 503."""

    detail: str = Field(description="why", examples=[UNAVAILABLE])


def parse_symbols(text: str, max_symbols: int) -> list[str]:
    """Return the symbols of ``?symbols=``: upper-cased, without blanks or duplicates, in order.

    Raises:
        RequestValidationError: there are more than ``max_symbols``; FastAPI answers 422.
    """
    # dict keeps the first occurrence of each, in order.
    symbols = list(dict.fromkeys(s.strip().upper() for s in text.split(",") if s.strip()))
    if len(symbols) > max_symbols:
        error = {
            "type": "too_many_symbols",
            "loc": ("query", "symbols"),
            "msg": f"at most {max_symbols} symbols at once, not {len(symbols)}",
            "input": text,
        }
        raise RequestValidationError([error])
    return symbols


async def read_quotes(client: redis.Redis, symbols: list[str] | None) -> Quotes:
    """Read the latest quotes of ``symbols``, or of every symbol if None.

    A stored value that is not a valid quote is logged, and its symbol is unknown.

    Raises:
        RedisError: Redis cannot be read.
    """
    found: list[tuple[str, bytes | str | None]] = []
    if symbols is None:
        stored = await client.hgetall(QUOTES_KEY)
        found = sorted((_text(symbol), value) for symbol, value in stored.items())
    elif symbols:  # HMGET needs at least one field.
        found = list(zip(symbols, await client.hmget(QUOTES_KEY, symbols), strict=True))
    quotes, unknown = [], []
    for symbol, value in found:
        quote = None if value is None else _parse(symbol, value)
        if quote is None:
            unknown.append(symbol)
        else:
            quotes.append(quote)
    return Quotes(quotes=quotes, unknown=unknown)


def _text(value: bytes | str) -> str:
    # The client returns bytes; its types also allow str.
    return value.decode() if isinstance(value, bytes) else value


def _parse(symbol: str, value: bytes | str) -> Quote | None:
    try:
        return Quote.model_validate_json(value)
    except ValidationError as exc:
        logger.warning("! ignored the quote of %s, which is invalid: %s", symbol, exc)
        return None
