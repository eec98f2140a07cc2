from __future__ import annotations

import re

from stock_service import STOCKS

DEMO_2010 = ["AAPL", "AMZN", "CSCO", "GOOG", "IBM", "INTC", "MSFT", "NVDA", "ORCL", "SAP"]


def test_the_data_file_has_at_least_50_symbols_sorted_and_unique() -> None:
    symbols = [stock.symbol for stock in STOCKS]
    assert len(symbols) >= 50
    assert symbols == sorted(set(symbols))
    assert all(re.fullmatch(r"[A-Z]{1,5}", symbol) for symbol in symbols)


def test_each_stock_has_a_name_a_reference_price_a_drift_and_a_volatility() -> None:
    for stock in STOCKS:
        assert stock.name.strip() == stock.name != ""
        assert 1 < stock.price < 1000
        assert -0.2 < stock.drift < 0.3
        assert 0.05 < stock.volatility < 1


def test_the_ten_symbols_of_the_2010_demo_keep_their_reference_prices() -> None:
    prices = {stock.symbol: stock.price for stock in STOCKS}
    assert set(DEMO_2010) <= set(prices)
    assert prices["MSFT"] == 27.91  # as in docs/MESSAGES.md
    assert 250 < prices["AAPL"] < 400  # before the 2014 and 2020 splits
    assert 500 < prices["GOOG"] < 700  # before the 2014 split
    names = {stock.symbol: stock.name for stock in STOCKS}
    assert names["MSFT"] == "Microsoft"
