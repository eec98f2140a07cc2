from __future__ import annotations

import math
import random
import statistics
from itertools import islice

import pytest

from stock_service import STOCKS, Market, Quote, Stock

SYMBOLS = ["AAPL", "AMZN", "CSCO", "GOOG", "IBM", "INTC", "MSFT", "NVDA", "ORCL", "SAP"]


def ticks(market: Market, n: int) -> list[Quote]:
    return [market.tick() for _ in range(n)]


def test_the_ten_symbols_of_the_2010_demo_are_quoted_from_plausible_prices() -> None:
    market = Market(seed=2010, tick_rate=20)
    assert set(SYMBOLS) <= set(market.symbols)
    prices = {stock.symbol: stock.price for stock in STOCKS}
    assert prices["MSFT"] == 27.91  # as in docs/MESSAGES.md
    assert 250 < prices["AAPL"] < 400  # before the 2014 and 2020 splits
    assert 500 < prices["GOOG"] < 700  # before the 2014 split
    assert all(1 < price < 1000 for price in prices.values())


def test_the_same_seed_gives_the_same_quotes() -> None:
    first = ticks(Market(seed=2010, tick_rate=20), 500)
    second = ticks(Market(seed=2010, tick_rate=20), 500)
    assert first == second


def test_another_seed_gives_other_prices() -> None:
    first = [q.price for q in ticks(Market(seed=1, tick_rate=20), 50)]
    second = [q.price for q in ticks(Market(seed=2, tick_rate=20), 50)]
    assert first != second


def test_symbols_tick_in_turn_each_with_its_own_seq_from_1() -> None:
    quotes = ticks(Market(seed=2010, tick_rate=20), 3 * len(SYMBOLS))
    assert [q.symbol for q in quotes] == SYMBOLS * 3
    assert [q.seq for q in quotes] == [1] * 10 + [2] * 10 + [3] * 10


def test_prices_are_rounded_to_cents() -> None:
    market = Market(seed=2010, tick_rate=20)
    for _ in range(100):
        quote = market.tick()
        assert quote.price == round(market.price(quote.symbol), 2)


def test_each_step_is_a_geometric_brownian_motion_step() -> None:
    # The market's random numbers, drawn again: one standard normal per tick.
    normals = random.Random(7)
    stock = Stock(symbol="X", price=100.0, volatility=0.02)
    market = Market([stock], seed=7, tick_rate=4)
    dt = 1 / 4 / 60  # minutes between two ticks of X
    price = stock.price
    for _ in range(100):
        market.tick()
        z = normals.gauss(0.0, 1.0)
        price *= math.exp(-(0.02**2) * dt / 2 + 0.02 * math.sqrt(dt) * z)
        assert market.price("X") == pytest.approx(price, rel=1e-12)


def test_log_returns_have_the_stocks_volatility_and_no_drift() -> None:
    market = Market(seed=2010, tick_rate=20)
    n = len(market.symbols)
    previous = {symbol: market.price(symbol) for symbol in market.symbols}
    returns: dict[str, list[float]] = {symbol: [] for symbol in market.symbols}
    for _ in range(4000 * n):
        symbol = market.tick().symbol
        returns[symbol].append(math.log(market.price(symbol) / previous[symbol]))
        previous[symbol] = market.price(symbol)
    dt = n / 20 / 60
    for stock in STOCKS:
        sigma = stock.volatility * math.sqrt(dt)
        observed = returns[stock.symbol]
        # 4000 samples: the standard error is sigma/63 for the mean, about sigma/89 for
        # the standard deviation; these bounds are over four standard errors wide.
        assert abs(statistics.fmean(observed)) < sigma / 15
        assert statistics.stdev(observed) == pytest.approx(sigma, rel=0.05)


def test_prices_stay_positive_over_a_long_run() -> None:
    market = Market(seed=2010, tick_rate=20)
    assert all(quote.price > 0 for quote in islice(iter(market.tick, None), 100_000))


@pytest.mark.parametrize("tick_rate", [0, -1])
def test_a_market_needs_a_positive_tick_rate(tick_rate: float) -> None:
    with pytest.raises(ValueError, match="positive tick rate"):
        Market(seed=1, tick_rate=tick_rate)
