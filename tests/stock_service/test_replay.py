from __future__ import annotations

import csv
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import pytest

import stock_service
from stock_service import STOCKS, Replay, ReplayError, Tick

SAMPLE = Path(stock_service.__file__).parent / "data" / "sample_quotes.csv"
SYMBOLS = {stock.symbol for stock in STOCKS}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "quotes.csv"
    path.write_text(text)
    return path


def test_the_sample_is_replayed_row_by_row_at_the_recorded_pace() -> None:
    with SAMPLE.open(newline="") as file:
        rows = list(csv.DictReader(file))
    replay = Replay(SAMPLE, SYMBOLS)
    start = datetime.fromisoformat(rows[0]["time"]).replace(tzinfo=UTC).timestamp()
    assert replay.start == start
    timed = list(islice(replay.timed(1.0), len(rows)))
    for row, (at, tick) in zip(rows, timed, strict=True):
        moment = datetime.fromisoformat(row["time"]).replace(tzinfo=UTC).timestamp()
        assert at == pytest.approx(moment - start)
        assert tick == Tick(row["symbol"], float(row["price"]))


def test_the_sample_lasts_two_minutes_and_quotes_every_symbol() -> None:
    replay = Replay(SAMPLE, SYMBOLS)
    assert 119 < replay.lap < 121
    ticks = list(islice(replay.timed(1.0), 2000))
    assert {tick.symbol for _, tick in ticks} == SYMBOLS


def test_a_faster_speed_divides_the_delays(tmp_path: Path) -> None:
    path = write(tmp_path, "time,symbol,price\n10,MSFT,27.9\n12,AAPL,322.5\n13,MSFT,28\n")
    assert [at for at, _ in islice(Replay(path, SYMBOLS).timed(4.0), 3)] == [0.0, 0.5, 0.75]


def test_at_the_end_the_replay_starts_over_after_the_mean_interval(tmp_path: Path) -> None:
    path = write(tmp_path, "time,symbol,price\n0,MSFT,27.9\n1,AAPL,322.5\n4,MSFT,28\n")
    replay = Replay(path, SYMBOLS)
    assert replay.lap == 6.0  # 4 s from first to last, then the mean interval, 2 s
    timed = list(islice(replay.timed(1.0), 7))
    assert [at for at, _ in timed] == [0.0, 1.0, 4.0, 6.0, 7.0, 10.0, 12.0]
    assert [tick for _, tick in timed[3:6]] == [tick for _, tick in timed[:3]]


@pytest.mark.parametrize(
    "rows", ["5,MSFT,27.9\n", "5,MSFT,27.9\n5,AAPL,322.5\n"], ids=["one row", "one time"]
)
def test_a_file_without_intervals_loops_every_second(tmp_path: Path, rows: str) -> None:
    replay = Replay(write(tmp_path, "time,symbol,price\n" + rows), SYMBOLS)
    assert replay.lap == 1.0


def test_times_may_be_numbers_or_iso_dates_and_symbols_any_case(tmp_path: Path) -> None:
    text = (
        "symbol,time,price,volume\n"
        " msft ,2010-12-31T14:30:00,27.9,100\n"
        "AAPL,2010-12-31T15:30:01+01:00,322.5,200\n"
        "IBM,1293805802.5,146.7,300\n"
    )
    timed = list(islice(Replay(write(tmp_path, text), SYMBOLS).timed(1.0), 3))
    assert timed == [
        (0.0, Tick("MSFT", 27.9)),
        (1.0, Tick("AAPL", 322.5)),
        (2.5, Tick("IBM", 146.7)),
    ]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "no time, symbol, price column"),
        ("time,price\n1,2\n", "no symbol column"),
        ("time,symbol,price\n", "no quotes"),
        ("time,symbol,price\n1,MSFT,27\n2,XYZ,3\n", ":3: unknown symbol 'XYZ'"),
        ("time,symbol,price\n1,MSFT,27\n2,,3\n", ":3: unknown symbol ''"),
        ("time,symbol,price\n2,MSFT,27\n1,MSFT,28\n", ":3: time goes backwards"),
        ("time,symbol,price\nnoon,MSFT,27\n", ":2: invalid time 'noon'"),
        ("time,symbol,price\ninf,MSFT,27\n", ":2: invalid time 'inf'"),
        ("time,symbol,price\n1,MSFT,0\n", ":2: invalid price '0'"),
        ("time,symbol,price\n1,MSFT,-3\n", ":2: invalid price '-3'"),
        ("time,symbol,price\n1,MSFT,nan\n", ":2: invalid price 'nan'"),
        ("time,symbol,price\n1,MSFT,cheap\n", ":2: invalid price 'cheap'"),
        ("time,symbol,price\n1,MSFT\n", ":2: invalid price ''"),
    ],
)
def test_an_invalid_file_is_refused_with_the_line_at_fault(
    tmp_path: Path, text: str, error: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ReplayError) as exc_info:
        Replay(path, SYMBOLS)
    assert str(exc_info.value) == f"{path}{'' if error.startswith(':') else ': '}{error}"


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match=r"^cannot read .*missing\.csv: \[Errno 2\]"):
        Replay(tmp_path / "missing.csv", SYMBOLS)


def test_a_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "quotes.csv"
    path.write_bytes(b"time,symbol,price\n\xff\xfe\n")
    with pytest.raises(ReplayError, match=r"^cannot read .*quotes\.csv: 'utf-8' codec"):
        Replay(path, SYMBOLS)


def test_a_file_that_becomes_invalid_fails_at_the_next_lap(tmp_path: Path) -> None:
    path = write(tmp_path, "time,symbol,price\n0,MSFT,27.9\n")
    ticks = Replay(path, SYMBOLS).timed(1.0)
    next(ticks)
    path.write_text("time,symbol,price\n0,XYZ,1\n")
    with pytest.raises(ReplayError, match=":2: unknown symbol 'XYZ'"):
        next(ticks)


@pytest.mark.parametrize("speed", [0, -1])
def test_the_speed_must_be_positive(speed: float) -> None:
    with pytest.raises(ValueError, match="replay speed must be positive"):
        Replay(SAMPLE, SYMBOLS).timed(speed)
