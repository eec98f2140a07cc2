"""The wslab stock-quote service, run with ``python -m stock_service``.

Clients of the gateway's ``/stocks`` path subscribe to simulated quotes; see
docs/MESSAGES.md.
"""

from __future__ import annotations

from .market import STOCKS, Market, Quote, Stock
from .service import NAME, StockHandlers, StockSettings, main

__all__ = ["NAME", "STOCKS", "Market", "Quote", "Stock", "StockHandlers", "StockSettings", "main"]
