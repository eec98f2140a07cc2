"""The conventional stack that benchmarks/side_by_side.py measures wslab's gateway against.

    python benchmarks/conventional_app.py --port 4600 [--loop uvloop] [--http httptools]

What a developer writes who needs the same chat and quotes without wslab: FastAPI on
uvicorn[standard] (uvloop, httptools, websockets: uvicorn's ``auto`` choices), a WebSocket
endpoint per route, and one ``redis.asyncio`` pub/sub connection per process whose reader
task sends each message to the local subscribers, one ``await ws.send_text`` after the
other. It speaks the app-level JSON of wslab's ``/chat`` and ``/stocks`` (docs/MESSAGES.md)
for what the benchmark's workloads use, and nothing more:

- ``/stocks``: ``{"type": "subscribe", "symbols": [...]}`` (``"*"``: every symbol) is
  answered ``subscribed``; then every text published on ``quotes.<SYMBOL>`` reaches the
  connection, as it is.
- ``/chat?nick=NICK&room=ROOM``: ``welcome``, then ``members``; a ``join`` is published to
  the room. ``{"type": "say", "text": ...}`` (or any other text) is published to the room
  as a ``message`` event with the nick, a per-process ``seq`` and ``ts``.

It is written plainly on purpose: no batching, no framing once for every client, no
conflation, no limits. uvicorn's own defaults stay: permessage-deflate offered (the
benchmark's clients do not ask for it), pings every 20 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from redis.asyncio import Redis

from stock_service import STOCKS

REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
SYMBOLS = frozenset(stock.symbol for stock in STOCKS)


class Hub:
    """This process's subscribers by Redis channel, and the task that feeds them."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.subscribers: defaultdict[str, set[WebSocket]] = defaultdict(set)
        self.nicks: dict[WebSocket, str] = {}
        self.seq = itertools.count(1)

    async def listen(self) -> None:
        """Send every message of ``quotes.*`` and ``chat.*`` to that channel's subscribers."""
        pubsub = self.redis.pubsub()
        await pubsub.psubscribe("quotes.*", "chat.*")
        async for message in pubsub.listen():
            if message["type"] != "pmessage":
                continue
            channel = message["channel"].decode()
            text = message["data"].decode()
            for ws in list(self.subscribers.get(channel, ())):
                try:
                    await ws.send_text(text)
                except Exception:  # The client is gone: forget it.
                    self.subscribers[channel].discard(ws)

    async def publish(self, channel: str, event: dict[str, object]) -> None:
        await self.redis.publish(channel, json.dumps(event))


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    redis = Redis.from_url(REDIS_URL)
    app.state.hub = hub = Hub(redis)
    listener = asyncio.create_task(hub.listen())
    try:
        yield
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await redis.aclose()


app = FastAPI(lifespan=lifespan)


@app.websocket("/stocks")
async def stocks(ws: WebSocket) -> None:
    hub: Hub = ws.app.state.hub
    await ws.accept()
    symbols: set[str] = set()
    try:
        while True:
            request = json.loads(await ws.receive_text())
            if request.get("type") != "subscribe":
                continue
            asked = set(request.get("symbols", []))
            wanted = SYMBOLS if "*" in asked else asked & SYMBOLS
            symbols |= wanted
            for symbol in wanted:
                hub.subscribers[f"quotes.{symbol}"].add(ws)
            await ws.send_text(json.dumps({"type": "subscribed", "symbols": sorted(symbols)}))
    except WebSocketDisconnect:
        pass
    finally:
        for symbol in symbols:
            hub.subscribers[f"quotes.{symbol}"].discard(ws)


@app.websocket("/chat")
async def chat(ws: WebSocket, nick: str = "guest", room: str = "lobby") -> None:
    hub: Hub = ws.app.state.hub
    channel = f"chat.{room}"
    await ws.accept()
    await ws.send_text(json.dumps({"type": "welcome", "nick": nick, "room": room}))
    hub.subscribers[channel].add(ws)
    hub.nicks[ws] = nick
    await hub.publish(channel, {"type": "join", "room": room, "nick": nick, "ts": time.time()})
    members = sorted(hub.nicks[member] for member in hub.subscribers[channel])
    await ws.send_text(json.dumps({"type": "members", "room": room, "members": members}))
    try:
        while True:
            text = await ws.receive_text()
            with contextlib.suppress(ValueError):
                request = json.loads(text)
                if isinstance(request, dict) and request.get("type") == "say":
                    text = str(request.get("text", ""))
            event: dict[str, object] = {"type": "message", "room": room, "nick": nick}
            event |= {"text": text, "seq": next(hub.seq), "ts": time.time()}
            await hub.publish(channel, event)
    except WebSocketDisconnect:
        pass
    finally:
        hub.subscribers[channel].discard(ws)
        hub.nicks.pop(ws, None)
        await hub.publish(channel, {"type": "leave", "room": room, "nick": nick, "ts": time.time()})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4600)
    parser.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"])
    parser.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"])
    args = parser.parse_args()
    uvicorn.run(
        app, host=args.host, port=args.port, loop=args.loop, http=args.http, log_level="warning"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
