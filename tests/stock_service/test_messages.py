from __future__ import annotations

import pytest

from client.quotes import Quote as ClientQuote
from gateway.quotes import Quote as GatewayQuote
from servicekit import ClientError
from stock_service import Quote, Stock
from stock_service.messages import (
    Request,
    parse,
    quote,
    snapshot,
    subscribed,
    symbols,
    unknown_symbols,
)

MSFT = Stock(symbol="MSFT", name="Microsoft", price=27.91, drift=0.06, volatility=0.24)


@pytest.mark.parametrize("action", ["subscribe", "unsubscribe"])
def test_a_request_names_its_action_and_symbols(action: str) -> None:
    payload = f'{{"type": "{action}", "symbols": ["MSFT", "AAPL"]}}'
    assert parse(payload) == Request(action=action, symbols=("MSFT", "AAPL"))


@pytest.mark.parametrize("payload", ['{"type": "list"}', '{"type": "list", "symbols": 3}'])
def test_list_asks_for_the_symbols(payload: str) -> None:
    assert parse(payload) == Request(action="list", symbols=())


@pytest.mark.parametrize("payload", ['{"type": "subscribe", "symbols": ["*"]}', "*", " * "])
def test_a_star_stands_for_every_symbol(payload: str) -> None:
    assert parse(payload) == Request(action="subscribe", symbols=("*",))


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


def test_a_quote_is_rounded_and_measured_from_the_reference_price() -> None:
    assert Quote.of(MSFT, 28.03456, 17, 1.25) == Quote("MSFT", 28.03, 0.12, 0.45, 17, 1.25)
    assert Quote.of(MSFT, 27.0, 18, 1.5) == Quote("MSFT", 27.0, -0.91, -3.26, 18, 1.5)


def test_a_tiny_loss_rounds_to_zero_not_minus_zero() -> None:
    assert str(Quote.of(MSFT, 27.909, 1, 0.0)) == str(Quote("MSFT", 27.91, 0.0, 0.0, 1, 0.0))


def test_quote_and_snapshot_are_as_documented() -> None:
    q = Quote("MSFT", 27.91, 0.0, 0.0, 105, 1.25)
    assert list(quote(q).items()) == [
        ("type", "quote"),
        ("symbol", "MSFT"),
        ("price", 27.91),
        ("change", 0.0),
        ("change_pct", 0.0),
        ("seq", 105),
        ("ts", 1.25),
    ]
    assert snapshot([q]) == {"type": "snapshot", "quotes": [q.fields()]}
    assert list(q.fields()) == ["symbol", "price", "change", "change_pct", "seq", "ts"]


def test_a_quote_message_is_what_the_gateway_s_api_and_the_client_read() -> None:
    # Three packages write down a quote's shape. The gateway's is a pydantic model that
    # documents `GET /api/quotes`, and the stock service's image has no pydantic to share it
    # through bus/; the client's image holds neither package. This test keeps them one.
    message = quote(Quote.of(MSFT, 28.03456, 17, 1.25))
    assert GatewayQuote.model_validate(message).model_dump() == message
    assert ClientQuote.parse(message) == ClientQuote(
        symbol="MSFT", price=28.03, change=0.12, change_pct=0.45, seq=17
    )


def test_symbols_and_subscribed_are_as_documented() -> None:
    assert symbols([MSFT]) == {
        "type": "symbols",
        "symbols": [{"symbol": "MSFT", "name": "Microsoft", "price": 27.91}],
    }
    assert subscribed(["MSFT", "AAPL"]) == {"type": "subscribed", "symbols": ["AAPL", "MSFT"]}
