"""A small FastAPI app with one WebSocket endpoint per behaviour, for the connection tests.

Every wire protocol is tested against the same endpoints: tests/gateway/test_draft.py and
tests/gateway/test_rfc6455.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from gateway.connection import OUTBOX, RECEIVED_AT, SETTINGS, Connection, ConnectionSettings
from gateway.outbox import Outbox
from tests.waiting import within

__all__ = ["Seen", "connection_of", "make_app", "unstamped"]


class Seen:
    """What the test app's endpoints report, in order; every wait is bounded."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def put(self, item: Any) -> None:
        self.queue.put_nowait(item)

    async def get(self) -> Any:
        return await within(self.queue.get(), "an endpoint to report")

    async def outbox(self) -> Outbox:
        """The outbox of the next connection that the /hold endpoint reported."""
        outbox = await self.get()
        assert isinstance(outbox, Outbox)
        return outbox


def connection_of(outbox: Outbox) -> Connection:
    connection = outbox.writer
    assert isinstance(connection, Connection)
    return connection


def unstamped(message: dict[str, Any]) -> dict[str, Any]:
    """An ASGI message without the arrival time the connection adds (RECEIVED_AT)."""
    return {name: value for name, value in message.items() if name != RECEIVED_AT}


def make_app(seen: Seen, settings: ConnectionSettings | None = None) -> FastAPI:
    """A FastAPI app with one endpoint per behaviour; ``settings`` go in its lifespan state."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        yield {} if settings is None else {SETTINGS: settings}

    app = FastAPI(lifespan=lifespan)

    @app.websocket("/echo")
    async def echo(websocket: WebSocket) -> None:
        """Echo each message; report every ASGI message received."""
        await websocket.accept()
        while True:
            message = await websocket.receive()
            seen.put(unstamped(message))
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == "close":
                await websocket.close(reason="as asked")
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])

    @app.websocket("/scope/{name}")
    async def scope(websocket: WebSocket, name: str) -> None:
        """Accept the subprotocol asked for, and send what the scope says."""
        subprotocols = websocket.scope["subprotocols"]
        await websocket.accept(subprotocol=subprotocols[0] if subprotocols else None)
        headers = dict(websocket.scope["headers"])
        await websocket.send_json(
            {
                "name": name,
                "path": websocket.scope["path"],
                "raw_path": websocket.scope["raw_path"].decode(),
                "query_string": websocket.scope["query_string"].decode(),
                "scheme": websocket.scope["scheme"],
                "subprotocols": subprotocols,
                "origin": headers[b"origin"].decode(),
            }
        )
        await websocket.receive()  # the disconnect

    @app.websocket("/refuse")
    async def refuse(websocket: WebSocket) -> None:
        """Refuse the handshake, with the reason given in the query string if any."""
        await websocket.close(reason=websocket.query_params.get("reason"))

    @app.websocket("/raise")
    async def fail(websocket: WebSocket) -> None:
        raise RuntimeError("the endpoint failed before accepting")

    @app.websocket("/return")
    async def leave(websocket: WebSocket) -> None:
        """Return without accepting or refusing."""

    @app.websocket("/late")
    async def late(websocket: WebSocket) -> None:
        """Wait for the client to leave, then try to send anyway."""
        await websocket.accept()
        seen.put(unstamped(await websocket.receive()))
        try:
            await websocket.send_text("too late")
        except WebSocketDisconnect as exc:
            seen.put(("send failed", exc.code))

    @app.websocket("/stamped")
    async def stamped(websocket: WebSocket) -> None:
        """Report every ASGI message received as it is."""
        await websocket.accept()
        while (message := await websocket.receive())["type"] != "websocket.disconnect":
            seen.put(message)
        seen.put(message)

    @app.websocket("/hold")
    async def hold(websocket: WebSocket) -> None:
        """Report the connection's outbox, then its disconnect."""
        await websocket.accept()
        seen.put(websocket.scope["extensions"][OUTBOX])
        seen.put(unstamped(await websocket.receive()))

    return app
