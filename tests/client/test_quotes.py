"""The pure parts of ``wslab quotes``: symbols, the board of quotes, lines and the table."""

from __future__ import annotations

import pytest

from client.quotes import (
    ALL,
    Arrow,
    Board,
    Quote,
    Row,
    describe_error,
    format_line,
    format_symbols,
    parse_symbols,
    quotes_url,
    redraw,
    render_table,
    subscribe_request,
)

SNAPSHOT: dict[str, object] = {
    "type": "snapshot",
    "quotes": [
        {"symbol": "MSFT", "price": 27.91, "change": 0.12, "change_pct": 0.43, "seq": 17},
        {"symbol": "AAPL", "price": 322.56, "change": -1.04, "change_pct": -0.32, "seq": 16},
    ],
}


def quote(symbol: str, price: float, seq: int, change: float = 0.0) -> dict[str, object]:
    return {"type": "quote", "symbol": symbol, "price": price, "change": change, "seq": seq}


def board(*events: dict[str, object], symbols: tuple[str, ...] = ("MSFT", "AAPL")) -> Board:
    result = Board(symbols)
    for event in events:
        result.receive(event)
    return result


@pytest.mark.parametrize(
    ("words", "symbols"),
    [
        (["msft", "AAPL"], ["MSFT", "AAPL"]),
        (["msft,aapl", "ibm", "MSFT"], ["MSFT", "AAPL", "IBM"]),
        (["msft", "*"], [ALL]),
        ([], []),
    ],
)
def test_symbols_are_upper_cased_split_at_commas_and_named_once(
    words: list[str], symbols: list[str]
) -> None:
    assert parse_symbols(words) == symbols


def test_the_url_is_the_gateways_stocks_path() -> None:
    assert quotes_url("ws://localhost:4502") == "ws://localhost:4502/stocks"
    assert quotes_url("ws://localhost:4502/stocks") == "ws://localhost:4502/stocks"


def test_a_subscription_names_the_symbols() -> None:
    assert subscribe_request([ALL]) == {"type": "subscribe", "symbols": ["*"]}


def test_a_snapshot_sets_the_rows_and_each_quote_moves_its_arrow() -> None:
    quotes = Board(["MSFT", "AAPL"])
    assert [row.arrow for row in quotes.receive(SNAPSHOT)] == [Arrow.FIRST, Arrow.FIRST]
    assert quotes.receive(quote("MSFT", 27.95, 18)) == [
        Row(Quote(symbol="MSFT", price=27.95, change=0.0, seq=18), Arrow.UP)
    ]
    assert quotes.receive(quote("MSFT", 27.90, 19))[0].arrow is Arrow.DOWN
    assert quotes.receive(quote("MSFT", 27.90, 20))[0].arrow is Arrow.SAME


def test_a_quote_not_past_the_seq_shown_is_skipped() -> None:
    quotes = board(SNAPSHOT)
    assert quotes.receive(quote("MSFT", 20.0, 17)) == []
    assert quotes.receive(quote("MSFT", 20.0, 16)) == []
    assert quotes.rows()[0][1] == Row(
        Quote(symbol="MSFT", price=27.91, change=0.12, change_pct=0.43, seq=17), Arrow.FIRST
    )


def test_a_snapshot_after_a_reconnection_refreshes_the_rows_even_with_older_seqs() -> None:
    quotes = board(SNAPSHOT, quote("MSFT", 28.0, 18))
    restarted = {"type": "snapshot", "quotes": [{"symbol": "MSFT", "price": 26.0, "seq": 2}]}
    (row,) = quotes.receive(restarted)
    assert (row.quote.price, row.arrow) == (26.0, Arrow.DOWN)
    assert quotes.receive(quote("MSFT", 26.5, 3))[0].arrow is Arrow.UP


def test_a_snapshot_repeating_the_quote_shown_keeps_its_arrow() -> None:
    quotes = board(SNAPSHOT, quote("MSFT", 28.0, 18))
    again = {"symbol": "MSFT", "price": 28.0, "change": 0.0, "seq": 18, "ts": 1732492801.0}
    assert quotes.receive({"type": "snapshot", "quotes": [again]})[0].arrow is Arrow.UP


def test_the_rows_are_the_symbols_asked_in_order_then_the_others_by_symbol() -> None:
    quotes = board(quote("SAP", 50.0, 1), quote("IBM", 146.0, 1), quote("AAPL", 322.0, 1))
    assert [symbol for symbol, _ in quotes.rows()] == ["MSFT", "AAPL", "IBM", "SAP"]
    assert quotes.rows()[0] == ("MSFT", None)
    every = board(quote("SAP", 50.0, 1), quote("IBM", 146.0, 1), symbols=(ALL,))
    assert [symbol for symbol, _ in every.rows()] == ["IBM", "SAP"]


def test_messages_that_are_not_quotes_change_no_row() -> None:
    quotes = Board(["MSFT"])
    assert quotes.receive({"type": "subscribed", "symbols": ["MSFT"]}) == []
    assert quotes.receive({"type": "quote", "price": 1.0}) == []
    assert quotes.receive({"type": "snapshot", "quotes": [3, {"symbol": 4}]}) == []
    assert quotes.rows() == [("MSFT", None)]


def test_a_line_shows_price_change_percent_arrow_and_seq_aligned() -> None:
    quotes = board(SNAPSHOT)
    (row,) = quotes.receive(
        {"type": "quote", "symbol": "MSFT", "price": 27.93, "change": 0.14, "change_pct": 0.5}
        | {"seq": 18, "ts": 1732492800.1}
    )
    assert format_line(row) == "MSFT       27.93    +0.14   +0.50%  ▲  seq 18"
    assert format_line(row, ascii=True) == "MSFT       27.93    +0.14   +0.50%  ^  seq 18"
    (first, _) = board().receive(SNAPSHOT)
    assert format_line(first) == "MSFT       27.91    +0.12   +0.43%  -  seq 17"


def test_a_line_shows_missing_fields_as_question_marks_and_escapes_the_symbol() -> None:
    (row,) = Board().receive({"type": "quote", "symbol": "X\x1b[2J", "price": "free"})
    assert format_line(row) == "X\\x1b[2J         ?        ?        ?  -  seq ?"


def test_the_table_has_a_heading_and_a_row_per_symbol_waiting_rows_blank() -> None:
    quotes = board(SNAPSHOT, quote("MSFT", 27.95, 18, change=0.16), symbols=("MSFT", "AAPL", "IBM"))
    assert render_table(quotes, width=80, height=24) == [
        "SYMBOL     PRICE   CHANGE  CHANGE%",
        "MSFT       27.95    +0.16        ?  ▲",
        "AAPL      322.56    -1.04   -0.32%  -",
        "IBM",
    ]


def test_the_table_cuts_its_lines_to_leave_the_last_column_free() -> None:
    quotes = board(SNAPSHOT)
    lines = render_table(quotes, width=22, height=24)
    assert lines == ["SYMBOL     PRICE   CH", "MSFT       27.91    +", "AAPL      322.56    -"]
    assert render_table(quotes, width=1, height=24) == ["", "", ""]


def test_the_table_counts_the_rows_that_do_not_fit_on_its_last_line() -> None:
    quotes = board(symbols=("MSFT", "AAPL", "IBM", "SAP"))
    assert render_table(quotes, width=80, height=5)[1:] == ["MSFT", "AAPL", "… 2 more"]
    assert render_table(quotes, width=80, height=5, ascii=True)[-1] == "... 2 more"
    assert render_table(quotes, width=80, height=6)[1:] == ["MSFT", "AAPL", "IBM", "SAP"]


def test_the_table_colours_gains_green_and_losses_red_when_asked() -> None:
    quotes = board(SNAPSHOT, quote("AAPL", 323.0, 17, change=-0.6))
    green, red, reset = "\x1b[32m", "\x1b[31m", "\x1b[0m"
    assert render_table(quotes, width=80, height=24, color=True)[1:] == [
        f"MSFT       27.91{green}    +0.12{reset}{green}   +0.43%{reset}  -",
        f"AAPL      323.00{red}    -0.60{reset}{red}        ?{reset}{green}  ▲{reset}",
    ]


def test_redrawing_moves_up_over_the_table_and_clears_each_line() -> None:
    assert redraw(0, [], ["a", "b"]) == "\r\r\x1b[Ka\n\r\x1b[Kb\n\x1b[J"
    assert redraw(2, [], ["a", "b"]) == "\r\x1b[2A\r\x1b[Ka\n\r\x1b[Kb\n\x1b[J"


def test_notes_go_above_the_redrawn_table_after_clearing_it() -> None:
    assert redraw(1, ["* reconnected"], ["a"]) == (
        "\r\x1b[1A\x1b[J\r\x1b[K* reconnected\n\r\x1b[Ka\n\x1b[J"
    )


def test_the_list_of_symbols_aligns_the_names() -> None:
    symbols = {
        "type": "symbols",
        "symbols": [
            {"symbol": "MSFT", "name": "Microsoft", "price": 27.79},
            {"symbol": "CMCSA", "name": "Comcast", "price": 21.97},
            "junk",
        ],
    }
    assert format_symbols(symbols) == ["MSFT   Microsoft", "CMCSA  Comcast"]


def test_an_error_shows_its_code_and_message_escaped() -> None:
    error = {"type": "error", "code": "unknown_symbol", "message": "unknown symbol: X\n"}
    assert describe_error(error) == "unknown_symbol: unknown symbol: X\\n"
    assert describe_error({"type": "error"}) == "?: ?"
