"""``wslab quotes`` without I/O: what to ask ``/stocks``, and its quotes as lines or a table.

:class:`Board` keeps the latest quote of each symbol from the ``snapshot`` and ``quote``
messages of the stock service, with how its price moved since the quote before;
:func:`format_line` shows one quote as a line for a pipe, :func:`render_table` the whole
board for a terminal. The runner, :mod:`client.cli.quotes`, does the I/O.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .display import format_message
from .lineedit import CLEAR_LINE
from .services import service_url

__all__ = [
    "ALL",
    "Arrow",
    "Board",
    "Quote",
    "Row",
    "describe_error",
    "format_line",
    "format_symbols",
    "list_request",
    "parse_symbols",
    "quotes_url",
    "redraw",
    "render_table",
    "subscribe_request",
]

ALL = "*"
"""The symbol that stands for every symbol the service quotes."""


def quotes_url(base: str) -> str:
    """The URL of the gateway's ``/stocks``; ``base`` may end with it already."""
    return service_url(base, "/stocks")


def parse_symbols(words: Sequence[str]) -> list[str]:
    """The symbols named on the command line: upper-cased, split at commas, each once, in
    order; ``[ALL]`` if one of them is ``*``."""
    symbols = [s.upper() for word in words for s in re.split(r"[,\s]+", word) if s]
    return [ALL] if ALL in symbols else list(dict.fromkeys(symbols))


def subscribe_request(symbols: Sequence[str]) -> dict[str, object]:
    """The message that subscribes to ``symbols`` (``[ALL]``: to every symbol)."""
    return {"type": "subscribe", "symbols": list(symbols)}


def list_request() -> dict[str, object]:
    """The message that asks for the symbols the service quotes."""
    return {"type": "list"}


def describe_error(event: Mapping[str, object]) -> str:
    """An ``error`` message as ``code: message``, escaped to stay on one line."""
    return f"{_text(event.get('code'))}: {_text(event.get('message'))}"


def _text(value: object) -> str:
    return "?" if value is None else format_message(str(value))


class Arrow(enum.Enum):
    """How a symbol's price moved since its quote before."""

    UP = "▲"
    DOWN = "▼"
    SAME = "="
    FIRST = "-"  # no quote before it was seen

    def glyph(self, *, ascii: bool) -> str:
        """How to show it: the value, or ``^`` and ``v`` for ``UP`` and ``DOWN`` in ASCII."""
        return {Arrow.UP: "^", Arrow.DOWN: "v"}.get(self, self.value) if ascii else self.value


def _arrow(before: float | None, after: float | None) -> Arrow:
    if before is None or after is None:
        return Arrow.FIRST
    return Arrow.UP if after > before else Arrow.DOWN if after < before else Arrow.SAME


@dataclass(frozen=True, kw_only=True)
class Quote:
    """A symbol's quote, from a ``quote`` message or an item of a ``snapshot``.

    Fields the message lacks, or that are not numbers, are None: they show as ``?``.
    """

    symbol: str
    price: float | None = None
    change: float | None = None
    change_pct: float | None = None  # in percent
    seq: int | None = None

    @classmethod
    def parse(cls, item: object) -> Quote | None:
        """The quote ``item`` holds; None if it is not an object with a ``symbol``."""
        if not isinstance(item, dict) or not isinstance(item.get("symbol"), str):
            return None
        seq = item.get("seq")
        return cls(
            symbol=item["symbol"],
            price=_number(item.get("price")),
            change=_number(item.get("change")),
            change_pct=_number(item.get("change_pct")),
            seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
        )


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


@dataclass(frozen=True)
class Row:
    """A symbol's latest quote, and how its price moved since the quote before."""

    quote: Quote
    arrow: Arrow


class Board:
    """The latest quote of each symbol: the symbols asked for, in the order asked, then any
    other the service sends (all of them for ``*``), by symbol.

    A ``snapshot`` sets the rows of the symbols it holds, as after a reconnection; a live
    ``quote`` is skipped if its ``seq`` is not past the one shown, as when it was in flight
    while the snapshot was read.
    """

    def __init__(self, symbols: Sequence[str] = ()) -> None:
        self._asked = [symbol for symbol in symbols if symbol != ALL]
        self._rows: dict[str, Row] = {}

    def receive(self, event: Mapping[str, object]) -> list[Row]:
        """Record a ``snapshot`` or ``quote`` message; return the rows it changed, in its
        order (none for other messages)."""
        kind = event.get("type")
        if kind == "snapshot":
            items = event.get("quotes")
            quotes = [Quote.parse(item) for item in items] if isinstance(items, list) else []
            return [self._update(quote) for quote in quotes if quote is not None]
        quote = Quote.parse(event) if kind == "quote" else None
        if quote is None or self._stale(quote):
            return []
        return [self._update(quote)]

    def rows(self) -> list[tuple[str, Row | None]]:
        """Each symbol in the order to show it, with its row; None before its first quote."""
        others = sorted(symbol for symbol in self._rows if symbol not in self._asked)
        return [(symbol, self._rows.get(symbol)) for symbol in [*self._asked, *others]]

    def _stale(self, quote: Quote) -> bool:
        row = self._rows.get(quote.symbol)
        shown = row.quote.seq if row is not None else None
        return shown is not None and quote.seq is not None and quote.seq <= shown

    def _update(self, quote: Quote) -> Row:
        row = self._rows.get(quote.symbol)
        if row is not None and row.quote == quote:
            return row  # The same quote again (a snapshot repeating it): keep its arrow.
        before = row.quote.price if row is not None else None
        self._rows[quote.symbol] = Row(quote, _arrow(before, quote.price))
        return self._rows[quote.symbol]


# Columns: (heading, width, alignment); the arrow follows them.
_COLUMNS = (("SYMBOL", 6, "<"), ("PRICE", 10, ">"), ("CHANGE", 9, ">"), ("CHANGE%", 9, ">"))
_GREEN, _RED = "32", "31"  # SGR foreground colours
_RESET = "\x1b[0m"

Cell = tuple[str, str]  # text, and its SGR colour ("" for none)


def _cells(symbol: str, row: Row | None, *, ascii: bool) -> list[Cell]:
    """The cells of a table row or line: symbol, price, change, change % and arrow."""
    if row is None:
        texts = [format_message(symbol), "", "", "", ""]
        return [(text, "") for text in _aligned(texts)]
    quote = row.quote
    texts = [
        format_message(symbol),
        _format(quote.price, ".2f"),
        _format(quote.change, "+.2f"),
        _format(quote.change_pct, "+.2f") + ("%" if quote.change_pct is not None else ""),
        "  " + row.arrow.glyph(ascii=ascii),
    ]
    change = quote.change or 0.0
    trend = _GREEN if change > 0 else _RED if change < 0 else ""
    moved = {Arrow.UP: _GREEN, Arrow.DOWN: _RED}.get(row.arrow, "")
    colours = ["", "", trend, trend, moved]
    return list(zip(_aligned(texts), colours, strict=True))


def _format(value: float | None, spec: str) -> str:
    return "?" if value is None else format(value, spec)


def _aligned(texts: list[str]) -> list[str]:
    """Pad each text to its column; the last, the arrow, is not padded."""
    *columns, arrow = texts
    pairs = zip(columns, _COLUMNS, strict=True)
    return [*(format(text, f"{align}{width}") for text, (_, width, align) in pairs), arrow]


def format_line(row: Row, *, ascii: bool = False) -> str:
    """A quote as one line for a pipe: ``MSFT       27.93    +0.14    +0.50%  ▲  seq 18``."""
    text = "".join(text for text, _ in _cells(row.quote.symbol, row, ascii=ascii))
    seq = row.quote.seq
    return f"{text}  seq {'?' if seq is None else seq}"


def render_table(
    board: Board, *, width: int, height: int, color: bool = False, ascii: bool = False
) -> list[str]:
    """The board as lines for a terminal of ``width`` by ``height`` characters: a heading,
    then a row per symbol; rows that do not fit are counted on the last line.

    Each line is cut to ``width - 1`` characters, so that none wraps, and the lines fill
    at most ``height - 1`` lines, so that the cursor below them stays on screen: then the
    table can be redrawn in place.
    """
    rows = board.rows()
    room = max(height - 2, 1)  # the heading, and the line the cursor stays on
    shown = rows if len(rows) <= room else rows[: room - 1]
    heading = [(text, "") for text in _aligned([*(name for name, _, _ in _COLUMNS), ""])]
    lines = [_fit(heading, width - 1, color=color)]
    lines += [_fit(_cells(s, row, ascii=ascii), width - 1, color=color) for s, row in shown]
    if len(shown) < len(rows):
        more = f"{'...' if ascii else '…'} {len(rows) - len(shown)} more"
        lines.append(_fit([(more, "")], width - 1, color=color))
    return lines


def _fit(cells: list[Cell], width: int, *, color: bool) -> str:
    """Join ``cells``, cut to ``width`` characters, coloured if ``color``."""
    parts = []
    for text, colour in cells:
        cut = text[: max(width, 0)]
        width -= len(cut)
        if cut and colour and color:
            cut = f"\x1b[{colour}m{cut}{_RESET}"
        parts.append(cut)
    return "".join(parts).rstrip()


def redraw(drawn: int, notes: Sequence[str], lines: Sequence[str]) -> str:
    """What to write to a terminal to replace the ``drawn`` lines above the cursor with
    ``notes``, which scroll up with the screen, then ``lines``; the cursor ends below them.

    Only cursor up (``ESC [ n A``), clearing a line (``ESC [ K``) and clearing below
    (``ESC [ J``) are used, which every terminal in use understands. The lines must not
    wrap (see :func:`render_table`); notes may, as they are cleared below first.
    """
    up = f"\x1b[{drawn}A" if drawn else ""
    clear = "\x1b[J" if notes else ""
    body = "".join(CLEAR_LINE + line + "\n" for line in [*notes, *lines])
    return f"\r{up}{clear}{body}\x1b[J"  # the last clears rows left if the table shrank


def format_symbols(event: Mapping[str, object]) -> list[str]:
    """A ``symbols`` message as lines: each symbol, then its name (``MSFT   Microsoft``)."""
    items = event.get("symbols")
    stocks = [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
    pairs = [(_text(stock.get("symbol")), _text(stock.get("name"))) for stock in stocks]
    width = max((len(symbol) for symbol, _ in pairs), default=0)
    return [f"{symbol:<{width}}  {name}" for symbol, name in pairs]
