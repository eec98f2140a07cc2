from __future__ import annotations

import pytest

from servicekit import ClientError
from stock_service.messages import Request, parse, quote, subscribed, unknown_symbols


@pytest.mark.parametrize("action", ["subscribe", "unsubscribe"])
def test_a_request_names_its_action_and_symbols(action: str) -> None:
    payload = f'{{"type": "{action}", "symbols": ["MSFT", "AAPL"]}}'
    assert parse(payload) == Request(action=action, symbols=("MSFT", "AAPL"))


def test_symbols_are_upper_cased_and_deduplicated_in_order() -> None:
    payload = '{"type": "subscribe", "symbols": ["msft", "AAPL", "Msft", " ibm ", ""]}'
    assert parse(payload).symbols == ("MSFT", "AAPL", "IBM")


def test_an_empty_list_is_a_valid_request() -> None:
    assert parse('{"type": "unsubscribe", "symbols": []}') == Request(
        action="unsubscribe", symbols=()
    )


@pytest.mark.parametrize(
    ("payload", "symbols"),
    [
        ("MSFT AAPL", ("MSFT", "AAPL")),
        ("msft,aapl", ("MSFT", "AAPL")),
        ("  MSFT ,\tAAPL,, ibm  \n", ("MSFT", "AAPL", "IBM")),
        ("MSFT MSFT", ("MSFT",)),
        ("", ()),
        ("42", ("42",)),
        ('["MSFT"]', ('["MSFT"]',)),
    ],
)
def test_a_line_that_is_not_a_json_object_subscribes_to_its_symbols(
    payload: str, symbols: tuple[str, ...]
) -> None:
    assert parse(payload) == Request(action="subscribe", symbols=symbols)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{}", "missing type"),
        ('{"symbols": ["MSFT"]}', "missing type"),
        ('{"type": "buy", "symbols": ["MSFT"]}', "unknown type 'buy'"),
        ('{"type": "subscribe"}', "subscribe needs a list of symbols"),
        ('{"type": "subscribe", "symbols": "MSFT"}', "subscribe needs a list of symbols"),
        ('{"type": "unsubscribe", "symbols": [1]}', "unsubscribe needs a list of symbols"),
    ],
)
def test_any_other_json_object_is_a_bad_request(payload: str, message: str) -> None:
    with pytest.raises(ClientError) as exc_info:
        parse(payload)
    assert exc_info.value.code == "bad_request"
    assert exc_info.value.message == message


def test_the_unknown_symbols_error_names_them() -> None:
    assert unknown_symbols(["FOO"]) == "unknown symbol: FOO"
    assert unknown_symbols(["FOO", "BAR"]) == "unknown symbols: FOO, BAR"


def test_the_unknown_symbols_error_stays_short() -> None:
    many = [f"X{i}" for i in range(25)]
    assert unknown_symbols(many) == "unknown symbols: " + ", ".join(many[:10]) + " and 15 more"
    assert unknown_symbols(["A" * 100]) == "unknown symbol: " + "A" * 12


def test_quote_and_subscribed_are_as_documented() -> None:
    assert list(quote("MSFT", 27.91, 105, 1.25).items()) == [
        ("type", "quote"),
        ("symbol", "MSFT"),
        ("price", 27.91),
        ("seq", 105),
        ("ts", 1.25),
    ]
    assert subscribed(["MSFT", "AAPL"]) == {"type": "subscribed", "symbols": ["AAPL", "MSFT"]}
