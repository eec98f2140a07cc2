"""The wslab gateway: serves the 2010 WebSocket draft and relays messages over Redis."""

from __future__ import annotations

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
