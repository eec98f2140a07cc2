"""A fake wslab gateway for testing ``wslab replay``: ``/chat`` and ``/stocks`` as
docs/MESSAGES.md describes them, in one process, without Redis or services.

It speaks the draft through the independent draft server (draft_server.py: handshake and
framing written from docs/PROTOCOL.md, nothing from wsdraft); any other path gets that
server's echo. Run it by hand with ``python tests/client/fake_gateway.py --port N``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import time
import urllib.parse
from collections.abc import AsyncIterator

try:
    from tests.client import draft_server
except ImportError:  # run as a script
    import draft_server  # type: ignore[no-redef]

SYMBOLS = ("AAPL", "AMZN", "CSCO", "GOOG", "IBM", "INTC", "MSFT", "NVDA", "ORCL", "SAP")


def send(writer: asyncio.StreamWriter, message: dict[str, object]) -> None:
    writer.write(draft_server.frame(draft_server.TEXT, json.dumps(message).encode()))


async def messages(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> AsyncIterator[str]:
    """Yield the client's text messages; answer pings; return after the closing handshake."""
    parts: list[bytes] = []
    while True:
        fin, opcode, payload = await draft_server.read_frame(reader)
        if opcode == draft_server.PING:
            writer.write(draft_server.frame(draft_server.PONG, payload))
        elif opcode == draft_server.CLOSE:
            writer.write(draft_server.frame(draft_server.CLOSE, payload))
            await writer.drain()
            return
        elif opcode in (draft_server.TEXT, draft_server.CONTINUATION):
            parts.append(payload)
            if fin:
                yield b"".join(parts).decode()
                parts = []


def as_object(text: str) -> dict[str, object] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class FakeGateway:
    """One chat room, ``lobby``, and a quote for every subscribed symbol every ``tick``."""

    def __init__(self, tick: float = 0.01) -> None:
        self.tick = tick
        self.members: set[asyncio.StreamWriter] = set()
        self.seq = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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

    def publish(self, kind: str, nick: str, **fields: object) -> None:
        self.seq += 1
        event = {"type": kind, "room": "lobby", "nick": nick, **fields}
        event |= {"seq": self.seq, "ts": time.time()}
        for member in self.members:
            send(member, event)

    async def chat(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        query: dict[str, list[str]],
    ) -> None:
        nick = query.get("nick", ["guest-0001"])[0]
        send(writer, {"type": "welcome", "nick": nick, "room": "lobby"})
        self.members.add(writer)
        self.publish("join", nick)
        try:
            async for text in messages(reader, writer):
                message = as_object(text)
                if message is None:
                    self.publish("message", nick, text=text)
                elif message.get("type") == "say" and isinstance(message.get("text"), str):
                    self.publish("message", nick, text=message["text"])
                else:
                    error = {"type": "error", "code": "bad_request", "message": "unknown type"}
                    send(writer, error)
        finally:
            self.members.discard(writer)
            self.publish("leave", nick)

    async def stocks(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        symbols: set[str] = set()
        ticker = asyncio.create_task(self.quote(writer, symbols))
        try:
            async for text in messages(reader, writer):
                message = as_object(text)
                if message is None:
                    kind, wanted = "subscribe", re.split(r"[\s,]+", text.strip())
                else:
                    kind, wanted = str(message.get("type")), list(message.get("symbols") or [])
                names = {str(symbol).upper() for symbol in wanted}
                unknown = sorted(names - set(SYMBOLS))
                if unknown:
                    error = f"no quotes for {', '.join(unknown)}"
                    send(writer, {"type": "error", "code": "unknown_symbol", "message": error})
                elif kind == "subscribe":
                    symbols |= names
                elif kind == "unsubscribe":
                    symbols -= names
                send(writer, {"type": "subscribed", "symbols": sorted(symbols)})
        finally:
            ticker.cancel()

    async def quote(self, writer: asyncio.StreamWriter, symbols: set[str]) -> None:
        seq = dict.fromkeys(SYMBOLS, 0)
        while True:
            await asyncio.sleep(self.tick)
            for symbol in sorted(symbols):
                seq[symbol] += 1
                price = round(random.uniform(10, 500), 2)
                quote = {"type": "quote", "symbol": symbol, "price": price, "seq": seq[symbol]}
                send(writer, quote | {"ts": time.time()})


async def start(port: int = 0, tick: float = 0.01) -> asyncio.Server:
    return await asyncio.start_server(FakeGateway(tick).handle, "127.0.0.1", port)


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
