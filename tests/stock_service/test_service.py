"""The stock service against a real Redis, with the test playing the gateway."""

from __future__ import annotations

import json

import pytest

import bus
from stock_service import Market, StockHandlers
from tests.servicekit.fake_gateway import FakeGateway, Published
from tests.stock_service.conftest import SEED, TICK_RATE

pytestmark = pytest.mark.usefixtures("stocks")

CONN = "gw-test.1"


def subscribe(*symbols: str) -> str:
    return json.dumps({"type": "subscribe", "symbols": list(symbols)})


def unsubscribe(*symbols: str) -> str:
    return json.dumps({"type": "unsubscribe", "symbols": list(symbols)})


async def test_subscribing_subscribes_the_connection_to_exactly_those_topics(
    gateway: FakeGateway,
) -> None:
    await gateway.message(CONN, subscribe("MSFT", "AAPL"))
    assert await gateway.next() == bus.Subscribe(conn=CONN, topic="quotes.MSFT")
    assert await gateway.next() == bus.Subscribe(conn=CONN, topic="quotes.AAPL")
    assert await gateway.reply(CONN) == {"type": "subscribed", "symbols": ["AAPL", "MSFT"]}


async def test_a_bare_line_of_symbols_subscribes_to_them(gateway: FakeGateway) -> None:
    await gateway.message(CONN, "msft, ibm")
    assert await gateway.next() == bus.Subscribe(conn=CONN, topic="quotes.MSFT")
    assert await gateway.next() == bus.Subscribe(conn=CONN, topic="quotes.IBM")
    assert await gateway.reply(CONN) == {"type": "subscribed", "symbols": ["IBM", "MSFT"]}


async def test_subscriptions_add_up_and_unsubscribing_removes_them(gateway: FakeGateway) -> None:
    await gateway.message(CONN, subscribe("MSFT"))
    assert await gateway.next() == bus.Subscribe(conn=CONN, topic="quotes.MSFT")
    assert await gateway.reply(CONN) == {"type": "subscribed", "symbols": ["MSFT"]}
    await gateway.message(CONN, subscribe("NVDA", "ORCL"))
    assert await gateway.next() == bus.Subscribe(conn=CONN, topic="quotes.NVDA")
    assert await gateway.next() == bus.Subscribe(conn=CONN, topic="quotes.ORCL")
    assert await gateway.reply(CONN) == {
        "type": "subscribed",
        "symbols": ["MSFT", "NVDA", "ORCL"],
    }
    await gateway.message(CONN, unsubscribe("msft", "ORCL"))
    assert await gateway.next() == bus.Unsubscribe(conn=CONN, topic="quotes.MSFT")
    assert await gateway.next() == bus.Unsubscribe(conn=CONN, topic="quotes.ORCL")
    assert await gateway.reply(CONN) == {"type": "subscribed", "symbols": ["NVDA"]}


async def test_each_connection_has_its_own_symbols(gateway: FakeGateway) -> None:
    await gateway.message("gw-test.1", subscribe("MSFT"))
    await gateway.message("gw-test.2", subscribe("SAP"))
    assert await gateway.next() == bus.Subscribe(conn="gw-test.1", topic="quotes.MSFT")
    assert await gateway.reply("gw-test.1") == {"type": "subscribed", "symbols": ["MSFT"]}
    assert await gateway.next() == bus.Subscribe(conn="gw-test.2", topic="quotes.SAP")
    assert await gateway.reply("gw-test.2") == {"type": "subscribed", "symbols": ["SAP"]}


async def test_unknown_symbols_get_an_error_naming_them_and_the_known_ones_apply(
    gateway: FakeGateway,
) -> None:
    await gateway.message(CONN, subscribe("FOO", "MSFT", "BAR"))
    assert await gateway.reply(CONN) == {
        "type": "error",
        "code": "unknown_symbol",
        "message": "unknown symbols: FOO, BAR",
    }
    assert await gateway.next() == bus.Subscribe(conn=CONN, topic="quotes.MSFT")
    assert await gateway.reply(CONN) == {"type": "subscribed", "symbols": ["MSFT"]}


async def test_unsubscribing_from_unknown_symbols_is_an_error_too(gateway: FakeGateway) -> None:
    await gateway.message(CONN, unsubscribe("XYZ"))
    assert await gateway.reply(CONN) == {
        "type": "error",
        "code": "unknown_symbol",
        "message": "unknown symbol: XYZ",
    }
    assert await gateway.reply(CONN) == {"type": "subscribed", "symbols": []}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ('{"type": "buy", "symbols": ["MSFT"]}', "unknown type 'buy'"),
        ('{"type": "subscribe", "symbols": "MSFT"}', "subscribe needs a list of symbols"),
    ],
)
async def test_an_invalid_request_is_a_bad_request(
    gateway: FakeGateway, payload: str, message: str
) -> None:
    await gateway.message(CONN, payload)
    assert await gateway.reply(CONN) == {"type": "error", "code": "bad_request", "message": message}


async def test_closing_forgets_the_connections_symbols(
    gateway: FakeGateway, handlers: StockHandlers
) -> None:
    await gateway.message("gw-test.1", subscribe("MSFT"))
    await gateway.message("gw-test.2", subscribe("SAP"))
    await gateway.close("gw-test.1")
    await gateway.message("gw-test.2", subscribe())  # Handled after the close.
    for _ in range(4):  # Subscribe and subscribed, for each connection
        await gateway.next()
    assert await gateway.reply("gw-test.2") == {"type": "subscribed", "symbols": ["SAP"]}
    assert handlers.subscriptions == {"gw-test.2": {"SAP"}}


async def test_quotes_follow_the_seeded_simulation_with_consecutive_seqs(
    gateway: FakeGateway,
) -> None:
    await gateway.listen("quotes.MSFT", "quotes.SAP")
    received = [await gateway.next() for _ in range(20)]
    quotes = []
    for item in received:
        assert isinstance(item, Published)
        assert list(item.message) == ["type", "symbol", "price", "seq", "ts"]
        assert item.message["type"] == "quote"
        assert item.topic == f"quotes.{item.message['symbol']}"
        assert isinstance(item.message["ts"], float)
        quotes.append(item.message)
    # The same seed gives the same prices: replay the simulation to know them.
    market = Market(seed=SEED, tick_rate=TICK_RATE)
    last = max(quote["seq"] for quote in quotes)
    prices = {(t.symbol, t.seq): t.price for t in (market.tick() for _ in range(last * 10))}
    for quote in quotes:
        assert quote["price"] == prices[quote["symbol"], quote["seq"]]
    for symbol in ("MSFT", "SAP"):
        seqs = [quote["seq"] for quote in quotes if quote["symbol"] == symbol]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
