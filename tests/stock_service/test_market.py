from __future__ import annotations

import math
import random
import statistics
from collections import Counter
from itertools import islice

import pytest

from stock_service import DT, STOCKS, Market, Stock, Tick


def ticks(market: Market, n: int) -> list[Tick]:
    return [market.tick() for _ in range(n)]


def stock(symbol: str, price: float, drift: float, volatility: float) -> Stock:
    return Stock(symbol=symbol, name=symbol, price=price, drift=drift, volatility=volatility)


def test_the_same_seed_gives_the_same_price_sequence() -> None:
    first = ticks(Market(seed=2010), 5000)
    second = ticks(Market(seed=2010), 5000)
    assert first == second
    assert len({tick.symbol for tick in first}) == len(STOCKS)


def test_another_seed_gives_another_sequence() -> None:
    first = ticks(Market(seed=1), 50)
    second = ticks(Market(seed=2), 50)
    assert [t.symbol for t in first] != [t.symbol for t in second]
    assert [t.price for t in first] != [t.price for t in second]


def test_the_rate_only_says_when_each_tick_falls_due() -> None:
    slow = list(islice(Market(seed=2010).timed(20), 1000))
    fast = list(islice(Market(seed=2010).timed(5000), 1000))
    assert [t.tick for t in slow] == [t.tick for t in fast]
    assert [t.at for t in slow] == [n / 20 for n in range(1000)]
    assert [t.at for t in fast] == [n / 5000 for n in range(1000)]


def test_each_tick_is_a_geometric_brownian_motion_step_of_a_randomly_picked_symbol() -> None:
    stocks = [stock("X", 100.0, 0.1, 0.2), stock("Y", 20.0, -0.05, 0.5)]
    market = Market(stocks, seed=7)
    # The market's random numbers, drawn again: a pick, then a standard normal.
    rng = random.Random(7)
    prices = {"X": 100.0, "Y": 20.0}
    for _ in range(200):
        picked = stocks[rng.randrange(2)]
        mu, sigma = picked.drift, picked.volatility
        z = rng.gauss(0.0, 1.0)
        prices[picked.symbol] *= math.exp((mu - sigma**2 / 2) * DT + sigma * math.sqrt(DT) * z)
        tick = market.tick()
        assert tick == Tick(picked.symbol, pytest.approx(prices[picked.symbol], rel=1e-12))
        assert market.price(tick.symbol) == tick.price


def test_each_symbol_ticks_about_as_often_as_the_others() -> None:
    counts = Counter(tick.symbol for tick in ticks(Market(seed=2010), 1000 * len(STOCKS)))
    # 1000 expected each, with a standard deviation of about 31.
    assert all(850 < count < 1150 for count in counts.values())


def test_log_returns_have_each_stocks_volatility() -> None:
    stocks = [stock("A", 50.0, 0.05, 0.15), stock("B", 50.0, 0.1, 0.4)]
    market = Market(stocks, seed=2010)
    returns: dict[str, list[float]] = {"A": [], "B": []}
    previous = {"A": 50.0, "B": 50.0}
    for tick in ticks(market, 8000):
        returns[tick.symbol].append(math.log(tick.price / previous[tick.symbol]))
        previous[tick.symbol] = tick.price
    for s in stocks:
        # About 4000 samples each: the standard deviation's standard error is about 1.1%.
        assert statistics.stdev(returns[s.symbol]) == pytest.approx(
            s.volatility * math.sqrt(DT), rel=0.05
        )


def test_prices_stay_positive_over_a_long_run() -> None:
    assert all(tick.price > 0 for tick in ticks(Market(seed=2010), 100_000))


def test_a_market_needs_stocks() -> None:
    with pytest.raises(ValueError, match="a market needs stocks"):
        Market([], seed=1)


@pytest.mark.parametrize("rate", [0, -1])
def test_a_market_needs_a_positive_tick_rate(rate: float) -> None:
    with pytest.raises(ValueError, match="tick rate must be positive"):
        Market(seed=1).timed(rate)
