"""The wslab client: an asyncio library for the 2010 HELLO WebSocket draft, and ``wslab``.

::

    from client import connect

    async with connect("ws://localhost:4502/chat") as ws:
        await ws.send("hello")
        print(await ws.recv())
"""

from __future__ import annotations

from .connection import Connection, connect
from .exceptions import ConnectionClosed
from .network import make_ssl_context

__all__ = ["Connection", "ConnectionClosed", "connect", "make_ssl_context"]
