"""Recorded quotes, replayed from a CSV file in a loop (``WSLAB_REPLAY``).

The file starts with a header row naming at least the columns ``time``, ``symbol`` and
``price`` (others are ignored), then has one row per quote, in time order:

- ``time``: seconds, as a number from any origin (Unix time, or 0 at the start), or an
  ISO 8601 date and time such as ``2010-12-31T14:30:00.250`` (UTC unless it says otherwise);
- ``symbol``: one of the symbols the service quotes (``symbols.csv``), in any case;
- ``price``: the price in USD, a positive number.

The whole file is checked when a :class:`Replay` is made, then read again at each lap, so
that it is never held in memory. Quotes fall due at the recorded pace divided by the speed.
At the end of the file the replay starts over: the first row follows the last one after the
mean interval between rows (1 s if all rows have the same time), and so on forever. Each
lap starts again from the file's prices; the feed keeps numbering each symbol's quotes, so
``seq`` goes on increasing.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Container, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

from .market import Tick, Timed

__all__ = ["COLUMNS", "Replay", "ReplayError"]

COLUMNS = ("time", "symbol", "price")
"""The columns a replay file must have."""


class ReplayError(ValueError):
    """A replay file that cannot be read or is not valid; the message says where."""


class Replay:
    """Recorded quotes from a CSV file, replayed in a loop.

    Args:
        path: the CSV file.
        symbols: the symbols the service quotes; the file may name no other.

    Attributes:
        start: the time of the file's first row, in seconds.
        lap: the recorded time one pass over the file stands for, in seconds: from the
            first row to the last, plus the mean interval between rows.

    Raises:
        ReplayError: the file cannot be read, or is not valid.
    """

    def __init__(self, path: str | Path, symbols: Container[str]) -> None:
        self.path = Path(path)
        self._symbols = symbols
        rows = 0
        first = last = 0.0
        for rows, (time, _) in enumerate(self._rows(), 1):
            first = time if rows == 1 else first
            last = time
        if not rows:
            raise ReplayError(f"{self.path}: no quotes")
        self.start = first
        self.lap = last - first + ((last - first) / (rows - 1) if last > first else 1.0)

    def timed(self, speed: float) -> Iterator[Timed]:
        """Yield the file's quotes forever, lap after lap, due at ``speed`` times their pace.

        Raises:
            ValueError: the speed is not positive.
            ReplayError: while iterating, if the file has become unreadable or invalid.
        """
        if speed <= 0:
            raise ValueError("the replay speed must be positive")
        return (
            Timed((time - self.start + lap * self.lap) / speed, tick)
            for lap in itertools.count()
            for time, tick in self._rows()
        )

    def _rows(self) -> Iterator[tuple[float, Tick]]:
        try:
            with self.path.open(encoding="utf-8", newline="") as file:
                reader = csv.DictReader(file)
                missing = [name for name in COLUMNS if name not in (reader.fieldnames or ())]
                if missing:
                    raise ReplayError(f"{self.path}: no {', '.join(missing)} column")
                previous = -math.inf
                for row in reader:
                    try:
                        time, tick = self._parse(row, previous)
                    except ValueError as exc:
                        raise ReplayError(f"{self.path}:{reader.line_num}: {exc}") from None
                    previous = time
                    yield time, tick
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise ReplayError(f"cannot read {self.path}: {exc}") from None

    def _parse(self, row: Mapping[str, str | None], previous: float) -> tuple[float, Tick]:
        time = _seconds(row["time"] or "")
        if time < previous:
            raise ValueError("time goes backwards")
        symbol = (row["symbol"] or "").strip().upper()
        if symbol not in self._symbols:
            raise ValueError(f"unknown symbol {symbol!r:.20}")
        return time, Tick(symbol, _price(row["price"] or ""))


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise ValueError(f"invalid time {text!r:.40}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    if not math.isfinite(seconds):
        raise ValueError(f"invalid time {text!r:.40}")
    return seconds


def _price(text: str) -> float:
    try:
        price = float(text)
    except ValueError:
        price = math.nan
    if not (math.isfinite(price) and price > 0):
        raise ValueError(f"invalid price {text!r:.40}")
    return price
