"""The stock service against a real Redis, with the test playing the gateway."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bus
from servicekit import Service
from stock_service import STOCKS, Market, StockHandlers, StockSettings, make_handlers, topic
from tests.servicekit.fake_gateway import FakeGateway, Published, running
from tests.stock_service.conftest import SEED

CONN = "gw-test.1"
SYMBOLS = [stock.symbol for stock in STOCKS]
QUOTE_FIELDS = ["symbol", "price", "change", "change_pct", "seq", "ts"]
SAMPLE = Path(__file__).parents[2] / "stock_service" / "data" / "sample_quotes.csv"


def subscribe(*symbols: str) -> str:
    return json.dumps({"type": "subscribe", "symbols": list(symbols)})


def unsubscribe(*symbols: str) -> str:
    return json.dumps({"type": "unsubscribe", "symbols": list(symbols)})


def simulated(seed: int) -> Iterator[tuple[str, int, float]]:
    """The simulation's quotes: symbol, seq and price in cents, computed again."""
    market = Market(seed=seed)
    seqs: Counter[str] = Counter()
    while True:
        tick = market.tick()
        seqs[tick.symbol] += 1
        yield tick.symbol, seqs[tick.symbol], round(tick.price, 2)


async def snapshot(gateway: FakeGateway, conn: str, *symbols: str) -> list[Any]:
    """The next item, which must be a snapshot of these symbols for ``conn``: its quotes."""
    message = await gateway.reply(conn)
    assert message["type"] == "snapshot"
    assert [quote["symbol"] for quote in message["quotes"]] == list(symbols)
    assert all(list(quote) == QUOTE_FIELDS for quote in message["quotes"])
    return list(message["quotes"])


def subscribed_to(*symbols: str) -> list[bus.Command]:
    return [bus.Subscribe(conn=CONN, topic=topic(s), conflate=True) for s in symbols]


def unsubscribed_from(*symbols: str) -> list[bus.Command]:
    return [bus.Unsubscribe(conn=CONN, topic=topic(s)) for s in symbols]


async def following(gateway: FakeGateway, n: int) -> list[bus.Command | Published]:
    return [await gateway.next() for _ in range(n)]


@pytest.mark.usefixtures("stocks")
class TestRequests:
    async def test_list_answers_every_symbol_with_its_name_and_reference_price(
        self, gateway: FakeGateway
    ) -> None:
        await gateway.message(CONN, '{"type": "list"}')
        reply = await gateway.reply(CONN)
        assert reply["type"] == "symbols"
        assert [entry["symbol"] for entry in reply["symbols"]] == SYMBOLS
        assert {"symbol": "MSFT", "name": "Microsoft", "price": 27.91} in reply["symbols"]

    async def test_subscribing_sends_subscribed_a_snapshot_then_subscribes_conflated(
        self, gateway: FakeGateway
    ) -> None:
        await gateway.message(CONN, subscribe("MSFT", "AAPL"))
        assert await gateway.reply(CONN) == {"type": "subscribed", "symbols": ["AAPL", "MSFT"]}
        await snapshot(gateway, CONN, "MSFT", "AAPL")
        assert await following(gateway, 2) == subscribed_to("MSFT", "AAPL")

    async def test_a_bare_line_of_symbols_subscribes_to_them(self, gateway: FakeGateway) -> None:
        await gateway.message(CONN, "msft, ibm")
        assert await gateway.reply(CONN) == {"type": "subscribed", "symbols": ["IBM", "MSFT"]}
        await snapshot(gateway, CONN, "MSFT", "IBM")
        assert await following(gateway, 2) == subscribed_to("MSFT", "IBM")

    async def test_a_star_subscribes_to_every_symbol(self, gateway: FakeGateway) -> None:
        await gateway.message(CONN, subscribe("*", "MSFT"))
        assert await gateway.reply(CONN) == {"type": "subscribed", "symbols": SYMBOLS}
        await snapshot(gateway, CONN, *SYMBOLS)
        assert await following(gateway, len(SYMBOLS)) == subscribed_to(*SYMBOLS)

    async def test_subscriptions_add_up_and_unsubscribing_removes_them(
        self, gateway: FakeGateway
    ) -> None:
        await gateway.message(CONN, subscribe("MSFT"))
        assert await gateway.reply(CONN) == {"type": "subscribed", "symbols": ["MSFT"]}
        await snapshot(gateway, CONN, "MSFT")
        assert await following(gateway, 1) == subscribed_to("MSFT")
        await gateway.message(CONN, subscribe("NVDA", "ORCL"))
        assert await gateway.reply(CONN) == {
            "type": "subscribed",
            "symbols": ["MSFT", "NVDA", "ORCL"],
        }
        await snapshot(gateway, CONN, "NVDA", "ORCL")
        assert await following(gateway, 2) == subscribed_to("NVDA", "ORCL")
        await gateway.message(CONN, unsubscribe("msft", "ORCL"))
        assert await following(gateway, 2) == unsubscribed_from("MSFT", "ORCL")
        assert await gateway.reply(CONN) == {"type": "subscribed", "symbols": ["NVDA"]}

    async def test_a_star_unsubscribes_from_every_symbol(
        self, gateway: FakeGateway, handlers: StockHandlers
    ) -> None:
        await gateway.message(CONN, subscribe("MSFT"))
        await following(gateway, 3)
        await gateway.message(CONN, unsubscribe("*"))
        assert await following(gateway, len(SYMBOLS)) == unsubscribed_from(*SYMBOLS)
        assert await gateway.reply(CONN) == {"type": "subscribed", "symbols": []}
        assert handlers.subscriptions == {}

    async def test_each_connection_has_its_own_symbols(self, gateway: FakeGateway) -> None:
        await gateway.message("gw-test.1", subscribe("MSFT"))
        await gateway.message("gw-test.2", subscribe("SAP"))
        assert await gateway.reply("gw-test.1") == {"type": "subscribed", "symbols": ["MSFT"]}
        await following(gateway, 2)
        assert await gateway.reply("gw-test.2") == {"type": "subscribed", "symbols": ["SAP"]}

    async def test_unknown_symbols_get_an_error_naming_them_and_the_known_ones_apply(
        self, gateway: FakeGateway
    ) -> None:
        await gateway.message(CONN, subscribe("FOO", "MSFT", "BAR"))
        assert await gateway.reply(CONN) == {
            "type": "error",
            "code": "unknown_symbol",
            "message": "unknown symbols: FOO, BAR",
        }
        assert await gateway.reply(CONN) == {"type": "subscribed", "symbols": ["MSFT"]}
        await snapshot(gateway, CONN, "MSFT")
        assert await following(gateway, 1) == subscribed_to("MSFT")

    async def test_only_unknown_symbols_get_no_snapshot(self, gateway: FakeGateway) -> None:
        await gateway.message(CONN, subscribe("XYZ"))
        await gateway.message(CONN, unsubscribe("XYZ"))
        for _ in range(2):
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
        self, gateway: FakeGateway, payload: str, message: str
    ) -> None:
        await gateway.message(CONN, payload)
        assert await gateway.reply(CONN) == {
            "type": "error",
            "code": "bad_request",
            "message": message,
        }

    async def test_closing_forgets_the_connections_symbols(
        self, gateway: FakeGateway, handlers: StockHandlers
    ) -> None:
        await gateway.message("gw-test.1", subscribe("MSFT"))
        await gateway.message("gw-test.2", subscribe("SAP"))
        await gateway.close("gw-test.1")
        await gateway.message("gw-test.2", subscribe())  # Handled after the close.
        await following(gateway, 6)  # subscribed, snapshot and Subscribe, for each connection
        assert await gateway.reply("gw-test.2") == {"type": "subscribed", "symbols": ["SAP"]}
        assert handlers.subscriptions == {"gw-test.2": {"SAP"}}


async def test_a_subscriber_gets_a_snapshot_then_only_its_ticks_with_consecutive_seqs(
    settings: StockSettings, handlers: StockHandlers, gateway: FakeGateway
) -> None:
    # A gateway that other clients keep subscribed to every topic since before the service
    # started, so that it sees every quote, and that delivers to CONN, in Redis's order, its
    # Sends and, after each Subscribe, the topic.
    await gateway.listen(*(topic(symbol) for symbol in SYMBOLS))
    latest: dict[str, Any] = {}  # The last quote published of each symbol.
    topics: set[str] = set()
    received: list[Any] = []
    async with running(Service("stocks", handlers, settings)):
        await gateway.message(CONN, subscribe("MSFT", "AAPL"))
        while Counter(message["type"] for message in received)["quote"] < 20:
            item = await gateway.next()
            if isinstance(item, Published):
                latest[item.message["symbol"]] = item.message
                if item.topic in topics:
                    received.append(item.message)
            elif isinstance(item, bus.Send):
                assert item.conn == CONN
                received.append(json.loads(item.payload))
                if received[-1]["type"] == "snapshot":
                    seen = dict(latest)  # What was published before the snapshot.
            elif isinstance(item, bus.Subscribe):
                topics.add(item.topic)
    subscribed, snapshot, *quotes = received
    assert subscribed == {"type": "subscribed", "symbols": ["AAPL", "MSFT"]}
    assert snapshot["type"] == "snapshot"
    assert [quote["symbol"] for quote in snapshot["quotes"]] == ["MSFT", "AAPL"]
    for quote in snapshot["quotes"]:
        if quote["symbol"] in seen:  # Else, the symbol has not ticked yet.
            assert {"type": "quote", **quote} == seen[quote["symbol"]]
        else:
            assert quote["seq"] == 0
    assert all(quote["type"] == "quote" for quote in quotes)
    assert {quote["symbol"] for quote in quotes} <= {"MSFT", "AAPL"}
    for first in snapshot["quotes"]:
        seqs = [quote["seq"] for quote in quotes if quote["symbol"] == first["symbol"]]
        assert seqs == list(range(first["seq"] + 1, first["seq"] + 1 + len(seqs)))


@pytest.mark.usefixtures("stocks")
async def test_quotes_follow_the_seeded_simulation(gateway: FakeGateway) -> None:
    await gateway.listen(topic("MSFT"), topic("SAP"))
    quotes = [(await gateway.next()) for _ in range(20)]
    assert all(isinstance(item, Published) for item in quotes)
    messages = [item.message for item in quotes if isinstance(item, Published)]
    assert all(list(message) == ["type", *QUOTE_FIELDS] for message in messages)
    last = max(message["seq"] for message in messages)
    prices = {}
    for symbol, seq, price in simulated(SEED):
        prices[symbol, seq] = price
        if ("MSFT", last) in prices and ("SAP", last) in prices:
            break
    for message in messages:
        assert message["price"] == prices[message["symbol"], message["seq"]]


@pytest.mark.usefixtures("stocks")
async def test_the_quotes_hash_holds_each_symbols_latest_quote(
    gateway: FakeGateway, handlers: StockHandlers
) -> None:
    await gateway.listen(topic("MSFT"))
    await gateway.published(topic("MSFT"))
    quotes = await gateway.redis.hgetall(bus.QUOTES_KEY)
    assert sorted(quotes) == [symbol.encode() for symbol in SYMBOLS]
    msft = json.loads(quotes[b"MSFT"])
    assert list(msft) == ["type", *QUOTE_FIELDS]
    assert msft["seq"] >= 1


async def test_a_replay_publishes_the_files_quotes_in_order(
    settings: StockSettings, gateway: FakeGateway
) -> None:
    settings = StockSettings(
        redis_url=settings.redis_url,
        health_file=settings.health_file,
        replay=str(SAMPLE),
        replay_speed=50.0,
    )
    with SAMPLE.open(newline="") as file:
        rows = [(row["symbol"], float(row["price"])) for row in csv.DictReader(file)][:100]
    await gateway.listen(*(topic(symbol) for symbol in SYMBOLS))
    async with running(Service("stocks", make_handlers(settings), settings)):
        quotes = [await gateway.published(topic(symbol)) for symbol, _ in rows]
    assert [(quote["symbol"], quote["price"]) for quote in quotes] == rows
    seqs: Counter[str] = Counter()
    for quote in quotes:
        seqs[quote["symbol"]] += 1
        assert quote["seq"] == seqs[quote["symbol"]]


class TestRateLimit:
    @pytest.fixture
    def settings(self, redis_url: str, tmp_path: Path) -> StockSettings:
        """Three requests at once, then almost none."""
        return StockSettings(
            redis_url=redis_url, health_file=str(tmp_path / "healthy"), rate=0.001, burst=3
        )

    @pytest.mark.usefixtures("stocks")
    async def test_requests_past_the_burst_get_rate_limited_and_nothing_else(
        self, gateway: FakeGateway
    ) -> None:
        for _ in range(4):
            await gateway.message(CONN, '{"type": "list"}')
        replies = [await gateway.reply(CONN) for _ in range(4)]
        assert [reply["type"] for reply in replies] == ["symbols", "symbols", "symbols", "error"]
        assert replies[-1]["code"] == "rate_limited"
        await gateway.message("gw-test.other", '{"type": "list"}')
        assert (await gateway.reply("gw-test.other"))["type"] == "symbols"
