"""A fake wslab gateway for testing ``wslab replay``, ``chat`` and ``quotes``: ``/chat`` and
``/stocks`` as docs/MESSAGES.md describes them, in one process, without Redis or services.

It speaks the draft through the independent draft server (draft_server.py: handshake and
framing written from docs/PROTOCOL.md, nothing from wsdraft); any other path gets that
server's echo. Run it by hand with ``python tests/client/fake_gateway.py --port N``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import time
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

try:
    from tests.client import draft_server
except ImportError:  # run as a script
    import draft_server  # type: ignore[no-redef]

# symbol: (name, reference price)
STOCKS = {
    "AAPL": ("Apple", 322.56),
    "AMZN": ("Amazon.com", 180.0),
    "CSCO": ("Cisco Systems", 20.23),
    "GOOG": ("Google", 593.97),
    "IBM": ("IBM", 146.76),
    "INTC": ("Intel", 21.03),
    "MSFT": ("Microsoft", 27.91),
    "NVDA": ("NVIDIA", 15.4),
    "ORCL": ("Oracle", 31.3),
    "SAP": ("SAP", 50.61),
}
STEPS = (0.12, -0.05, 0.0, 0.07)  # how a symbol's price moves with each tick, in turn
UNAVAILABLE = "the stocks service is not running; try again later"


def send(writer: asyncio.StreamWriter, message: dict[str, object]) -> None:
    writer.write(draft_server.frame(draft_server.TEXT, json.dumps(message).encode()))


def as_object(text: str) -> dict[str, object] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class FakeGateway:
    """Chat rooms (``lobby`` by default), and stock quotes.

    The chat keeps every event of each room, so a client connecting with ``?since=SEQ`` or
    sending ``{"type": "history", "since": SEQ}`` gets those after SEQ; nothing is ever
    lost, so there is no ``resync``. Unlike the real service, a client gets no ``history``
    when it connects without ``since``. :meth:`drop` cuts a client off, as a network would.

    Each ``/stocks`` connection gets a ``snapshot`` when it subscribes, then a quote of each
    symbol it subscribed to every ``tick``. Prices move by STEPS in turn from the reference
    price, so they are the same in every run; each symbol's ``seq`` counts its quotes, on
    every connection together. After ``quote_limit`` quotes, a connection is closed; while
    ``stocks_down``, every request gets an ``unavailable`` error and no quote is sent, as
    when the stock service is not running. While ``silent``, a new connection's handshake is
    never answered (``unanswered`` counts them), as by a server that hangs.
    """

    def __init__(self, tick: float = 0.01) -> None:
        self.tick = tick
        self.rooms: dict[str, dict[asyncio.StreamWriter, str]] = {}  # room: writer: nick
        self.events: dict[str, list[dict[str, Any]]] = {}  # room: its events, in seq order
        self.queries: list[dict[str, list[str]]] = []  # of each /chat connection
        self.prices = {symbol: price for symbol, (_, price) in STOCKS.items()}
        self.seqs = dict.fromkeys(STOCKS, 1)  # of each symbol's latest quote
        self.times = dict.fromkeys(STOCKS, time.time())
        self.quote_limit: int | None = None
        self.stocks_down = False
        self.silent = False
        self.unanswered = 0
        self.stock_requests: list[dict[str, object] | str] = []  # received on /stocks
        self.stock_writers: set[asyncio.StreamWriter] = set()
        self.closing: set[asyncio.StreamWriter] = set()  # the gateway sent them a Close
        # Nicknames still held by a ghost: the next connections with them, as many as the
        # count, are welcomed then refused with nick_taken, in no room.
        self.ghosts: dict[str, int] = {}

    async def messages(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> AsyncIterator[str]:
        """Yield the client's text messages; answer pings; return after the closing
        handshake, which either side may start."""
        parts: list[bytes] = []
        while True:
            fin, opcode, payload = await draft_server.read_frame(reader)
            if opcode == draft_server.PING:
                writer.write(draft_server.frame(draft_server.PONG, payload))
            elif opcode == draft_server.CLOSE:
                if writer not in self.closing:
                    writer.write(draft_server.frame(draft_server.CLOSE, payload))
                    await writer.drain()
                return
            elif opcode in (draft_server.TEXT, draft_server.CONTINUATION):
                parts.append(payload)
                if fin:
                    yield b"".join(parts).decode()
                    parts = []

    def close(self, writer: asyncio.StreamWriter) -> None:
        """Start the closing handshake."""
        self.closing.add(writer)
        writer.write(draft_server.frame(draft_server.CLOSE, b""))

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.silent:
            self.unanswered += 1
            await reader.read()  # until the client gives up
            writer.close()
            return
        try:
            path = await draft_server.accept(reader, writer)
            if path is None:
                return
            route, _, query = path.partition("?")
            if route == "/chat":
                await self.chat(reader, writer, urllib.parse.parse_qs(query))
            elif route == "/stocks":
                await self.stocks(reader, writer)
            else:
                await draft_server.echo(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def publish(self, kind: str, room: str, nick: str, **fields: object) -> None:
        """Send a room event to its members, with the room's next seq."""
        events = self.events.setdefault(room, [])
        event = {"type": kind, "room": room, "nick": nick, **fields}
        event |= {"seq": len(events) + 1, "ts": time.time()}
        events.append(event)
        for member in self.rooms.get(room, {}):
            send(member, event)

    def history(self, room: str, since: int) -> dict[str, object]:
        events = [event for event in self.events.get(room, []) if event["seq"] > since]
        return {"type": "history", "room": room, "events": events}

    def join(self, writer: asyncio.StreamWriter, nick: str, room: str) -> None:
        self.rooms.setdefault(room, {})[writer] = nick
        self.publish("join", room, nick)

    def leave(self, writer: asyncio.StreamWriter, room: str) -> None:
        members = self.rooms.get(room, {})
        if writer in members:
            self.publish("leave", room, members[writer])  # to the one leaving too
            del members[writer]

    def drop(self, nick: str) -> None:
        """Cut ``nick``'s connections without a closing handshake; it leaves every room."""
        writers = {
            w for members in self.rooms.values() for w, name in members.items() if name == nick
        }
        for writer in writers:
            writer.transport.abort()
            for room in list(self.rooms):
                self.leave(writer, room)

    async def chat(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        query: dict[str, list[str]],
    ) -> None:
        self.queries.append(query)
        nick = query.get("nick", ["guest-0001"])[0]
        room = query.get("room", ["lobby"])[0]
        send(writer, {"type": "welcome", "nick": nick, "room": room})
        if self.ghosts.get(nick, 0) > 0:
            self.ghosts[nick] -= 1
            taken = f"someone else is called {nick!r}"
            send(writer, {"type": "error", "code": "nick_taken", "message": taken})
            async for _ in self.messages(reader, writer):
                pass
            return
        self.join(writer, nick, room)
        if "since" in query:
            send(writer, self.history(room, int(query["since"][0])))
        try:
            async for text in self.messages(reader, writer):
                message = as_object(text)
                if message is None:
                    message = {"type": "say", "text": text}
                reply = self.command(writer, nick, message)
                if reply is not None:
                    send(writer, reply)
        finally:
            for name in list(self.rooms):
                self.leave(writer, name)

    def command(
        self, writer: asyncio.StreamWriter, nick: str, message: dict[str, object]
    ) -> dict[str, object] | None:
        """Carry out a client's message; return the reply to it alone, if any."""
        kind, text = message.get("type"), message.get("text")
        room = str(message.get("room", "lobby"))
        if kind == "join":
            self.join(writer, nick, room)
            return {"type": "members", "room": room, "members": sorted(self.rooms[room].values())}
        if kind == "rooms":
            rooms = [{"room": name, "members": len(them)} for name, them in self.rooms.items()]
            return {"type": "rooms", "rooms": [r for r in rooms if r["members"]]}
        if kind == "history":
            return self.history(room, int(str(message.get("since", 0))))
        members = self.rooms.get(room, {})
        if kind in ("say", "leave", "private") and writer not in members:
            return {"type": "error", "code": "not_member", "message": f"you are not in {room}"}
        if kind == "say" and isinstance(text, str):
            self.publish("message", room, nick, text=text)
        elif kind == "leave":
            self.leave(writer, room)
        elif kind == "private" and isinstance(text, str):
            to = [member for member, name in members.items() if name == message.get("to")]
            if not to:
                return {"type": "error", "code": "no_such_member", "message": "no one by that name"}
            private = {"type": "private", "room": room, "from": nick, "to": message["to"]}
            for member in {writer, *to}:
                send(member, private | {"text": text, "ts": time.time()})
        else:
            return {"type": "error", "code": "bad_request", "message": "unknown type"}
        return None

    def quote(self, symbol: str) -> dict[str, object]:
        """``symbol``'s latest quote, as a snapshot holds it."""
        price, reference = self.prices[symbol], STOCKS[symbol][1]
        change = round(price - reference, 2)
        pct = round(change / reference * 100, 2)
        quote = {"symbol": symbol, "price": price, "change": change, "change_pct": pct}
        return quote | {"seq": self.seqs[symbol], "ts": self.times[symbol]}

    def move(self, symbol: str) -> dict[str, object]:
        """Move ``symbol``'s price by its next step; return its ``quote`` message."""
        self.seqs[symbol] += 1
        step = STEPS[self.seqs[symbol] % len(STEPS)]
        self.prices[symbol] = round(self.prices[symbol] + step, 2)
        self.times[symbol] = time.time()
        return {"type": "quote", **self.quote(symbol)}

    def drop_stocks(self) -> None:
        """Cut every ``/stocks`` connection without a closing handshake."""
        for writer in self.stock_writers:
            writer.transport.abort()

    async def stocks(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        symbols: set[str] = set()
        self.stock_writers.add(writer)
        ticker = asyncio.create_task(self.tick_quotes(writer, symbols))
        try:
            async for text in self.messages(reader, writer):
                message = as_object(text)
                self.stock_requests.append(text if message is None else message)
                for reply in self.stock_command(text, message, symbols):
                    send(writer, reply)
        finally:
            ticker.cancel()
            self.stock_writers.discard(writer)

    def stock_command(
        self, text: str, message: dict[str, object] | None, symbols: set[str]
    ) -> list[dict[str, object]]:
        """Carry out a client's message to ``/stocks``; return the replies."""
        if self.stocks_down:
            return [{"type": "error", "code": "unavailable", "message": UNAVAILABLE}]
        if message is None:
            kind, wanted = "subscribe", re.split(r"[\s,]+", text.strip())
        else:
            kind, listed = str(message.get("type")), message.get("symbols")
            wanted = [str(symbol) for symbol in listed] if isinstance(listed, list) else []
        if kind == "list":
            stocks = [{"symbol": s, "name": name, "price": p} for s, (name, p) in STOCKS.items()]
            return [{"type": "symbols", "symbols": stocks}]
        if kind not in ("subscribe", "unsubscribe"):
            return [{"type": "error", "code": "bad_request", "message": f"unknown type {kind}"}]
        names = list(STOCKS) if wanted == ["*"] else [symbol.upper() for symbol in wanted]
        unknown = [name for name in names if name not in STOCKS]
        if unknown:
            error = f"unknown symbol{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}"
            return [{"type": "error", "code": "unknown_symbol", "message": error}]
        if kind == "unsubscribe":
            symbols.difference_update(names)
            return [{"type": "subscribed", "symbols": sorted(symbols)}]
        symbols.update(names)
        snapshot = [self.quote(name) for name in dict.fromkeys(names)]
        return [
            {"type": "subscribed", "symbols": sorted(symbols)},
            {"type": "snapshot", "quotes": snapshot},
        ]

    async def tick_quotes(self, writer: asyncio.StreamWriter, symbols: set[str]) -> None:
        """Send a quote of each of ``symbols`` every ``tick``; close after ``quote_limit``."""
        sent = 0
        while True:
            await asyncio.sleep(self.tick)
            for symbol in [] if self.stocks_down else sorted(symbols):
                send(writer, self.move(symbol))
                sent += 1
                if sent == self.quote_limit:
                    self.close(writer)
                    return


async def start(
    port: int = 0, tick: float = 0.01, gateway: FakeGateway | None = None
) -> asyncio.Server:
    gateway = gateway or FakeGateway(tick)
    return await asyncio.start_server(gateway.handle, "127.0.0.1", port)


async def serve_forever(port: int, tick: float) -> None:
    server = await start(port, tick)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tick", type=float, default=1.0, help="seconds between quotes")
    options = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(options.port, options.tick))
