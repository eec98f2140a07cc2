"""The wslab stock-quote service, run with ``python -m stock_service``.

Clients of the gateway's ``/stocks`` path list the symbols and subscribe to their quotes,
simulated or replayed; see docs/MESSAGES.md.
"""

from __future__ import annotations

from .feed import Feed, FeedStopped, topic
from .market import DT, Market, Tick, Timed
from .messages import Quote
from .replay import Replay, ReplayError
from .service import NAME, StockHandlers, StockSettings, main, make_handlers
from .stocks import STOCKS, Stock

__all__ = [
    "DT",
    "NAME",
    "STOCKS",
    "Feed",
    "FeedStopped",
    "Market",
    "Quote",
    "Replay",
    "ReplayError",
    "Stock",
    "StockHandlers",
    "StockSettings",
    "Tick",
    "Timed",
    "main",
    "make_handlers",
    "topic",
]
