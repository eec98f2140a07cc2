"""Serve the draft protocol to unchanged FastAPI ``@app.websocket`` endpoints.

uvicorn hands every request carrying ``Upgrade: WebSocket`` to the class named by its ``ws``
setting (``ws="gateway.draft:DraftProtocol"``), so HTTP and the draft share one port. This
class is the I/O layer between that transport, a :class:`wsdraft.ServerProtocol` and the
ASGI application; every protocol decision is the core's.

It relies on uvicorn's undocumented contract for ws classes (the constructor's keywords,
``server_state``, ``shutdown()``), which is why uvicorn is pinned; see
/work/shared/guides/ecosystem-notes.md §1 and docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.utils import ClientDisconnected, get_local_addr, get_remote_addr, is_ssl
from uvicorn.server import ServerState

from wsdraft import (
    BinaryMessage,
    Closed,
    ConnectionLost,
    InvalidHello,
    InvalidRequest,
    Limits,
    Opened,
    Ping,
    Pong,
    PreparedMessage,
    Request,
    ServerProtocol,
    State,
    TextMessage,
    close_body,
)

from . import metrics

__all__ = ["OUTBOX", "SETTINGS", "DraftProtocol", "DraftSettings", "HTTPProtocol"]

logger = logging.getLogger("wslab.gateway")

#: The key of :class:`DraftSettings` in the application's lifespan state.
SETTINGS = "wslab.draft"
#: The ASGI scope extension holding the connection itself, for ``send_prepared``.
OUTBOX = "wslab.outbox"

# Received messages queued for the application before reading from the socket pauses.
_MAX_QUEUED = 16


@dataclass
class DraftSettings:
    """How draft connections are served; the app's lifespan yields it as ``SETTINGS``.

    Attributes:
        limits: sizes and timeouts of each connection.
        origins: the Origin values accepted; any if None.
        max_connections: open connections beyond this are answered 503.
        slow_write_buffer: bytes waiting to be sent to one client beyond which it is slow:
            the transport's high-water mark. Sends wait, and conflated messages are held,
            until the buffer drains to a quarter of it (docs/BUS.md, "Conflation").
        max_write_buffer: bytes that may wait to be sent to one client before it is
            closed as too slow; above ``slow_write_buffer``.
        live: the draft connections alive in this process.
    """

    limits: Limits = field(default_factory=Limits)
    origins: frozenset[str] | None = None
    max_connections: int = 10_000
    # asyncio's own default high-water mark.
    slow_write_buffer: int = 64 * 1024
    max_write_buffer: int = 2**20
    live: set[DraftProtocol] = field(default_factory=set)


class DraftProtocol(asyncio.Protocol):
    """One draft connection, from uvicorn's handover to the end."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        self.app_state = app_state
        self.settings: DraftSettings = app_state.get(SETTINGS) or DraftSettings()
        self.loop = _loop or asyncio.get_event_loop()
        self.server_state = server_state
        self.transport: asyncio.Transport
        self.core: ServerProtocol
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        # True once the client's HELLO is verified, False if the connection ended before.
        self.opened: asyncio.Future[bool] = self.loop.create_future()
        # Cleared while the client is slow: more than slow_write_buffer bytes wait.
        self.writable = asyncio.Event()
        self.writable.set()
        # While the client is slow, the latest conflated message of each key, in the order
        # the keys were first held; sent when it catches up.
        self.held: dict[str, PreparedMessage] = {}
        self.read_paused = False
        self.app_started = False
        self.handshake_recorded = False
        # The handshake deadline, then the deadline for the peer's Close.
        self.timer: asyncio.TimerHandle | None = None

    # uvicorn's transport callbacks.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=self.settings.slow_write_buffer)
        # uvicorn types this set with its own classes; any object with shutdown() works.
        self.server_state.connections.add(self)  # type: ignore[arg-type]
        self.settings.live.add(self)
        self.core = ServerProtocol(
            origins=self.settings.origins, secure=is_ssl(transport), limits=self.settings.limits
        )
        self.timer = self.loop.call_later(self.core.limits.handshake_timeout, self._time_out)

    def data_received(self, data: bytes) -> None:
        metrics.BYTES_IN.inc(len(data))
        self.core.receive_data(data)
        self._flush()

    def eof_received(self) -> None:
        self.core.receive_eof()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.core.receive_eof()
        self._flush()
        self.server_state.connections.discard(self)
        self.settings.live.discard(self)
        self.writable.set()  # Unblock senders: the buffer will never drain now.
        self.held.clear()
        self._cancel_timer()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()
        # The client caught up: send what was held, until it is slow again. Writing may
        # call pause_writing at once; what is left waits for the next resume_writing.
        while self.held and self.writable.is_set() and self.core.state is State.OPEN:
            self._write_prepared(self.held.pop(next(iter(self.held))))

    def shutdown(self) -> None:
        """Called by uvicorn when the server stops."""
        if self.core.state is State.OPEN:
            self.core.send_close(b"server shutting down")
            self._flush()
        else:
            self.transport.close()

    # Driving the core.

    def _flush(self) -> None:
        """Write what the core queued, then act on what it reported."""
        for data in self.core.data_to_send():
            if data:
                self.transport.write(data)
                metrics.BYTES_OUT.inc(len(data))
            else:
                self.transport.close()
        if self.core.state is State.CLOSING and self.timer is None:
            self.timer = self.loop.call_later(self.core.limits.close_timeout, self._time_out)
        for event in self.core.events_received():
            match event:
                case Request():
                    self._start_app(event)
                case Opened():
                    self._cancel_timer()
                    self._record_handshake("accepted", "ok")
                    metrics.OPEN_CONNECTIONS.inc()
                    self.opened.set_result(True)
                case TextMessage(data=text):
                    self._deliver({"type": "websocket.receive", "text": text})
                case BinaryMessage(data=data):
                    self._deliver({"type": "websocket.receive", "bytes": data})
                case Ping() | Pong():
                    pass  # The core answered the ping.
                case Closed():
                    self._end(event)

    def _time_out(self) -> None:
        self.timer = None
        if self.core.state is not State.OPEN:
            self._record_handshake("failed", "timeout")
            self.transport.abort()

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _start_app(self, request: Request) -> None:
        if len(self.settings.live) > self.settings.max_connections:
            reason = f"the server is full ({self.settings.max_connections} connections)"
            self.core.reject(503, reason, [("Retry-After", "5")])
            self._record_handshake("rejected", "503")
            self._flush()
            return
        path, _, query = request.resource.partition("?")
        root_path = self.config.root_path
        scope = {
            "type": "websocket",
            "asgi": {"version": self.config.asgi_version, "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": "wss" if self.core.secure else "ws",
            "server": get_local_addr(self.transport),
            "client": get_remote_addr(self.transport),
            "root_path": root_path,
            "path": root_path + unquote(path),
            "raw_path": (root_path + path).encode(),
            "query_string": query.encode(),
            "headers": [
                (name.encode("latin-1"), value.encode("latin-1")) for name, value in request.headers
            ],
            "subprotocols": [request.subprotocol] if request.subprotocol else [],
            "state": self.app_state.copy(),
            "extensions": {OUTBOX: self},
        }
        self.app_started = True
        self.queue.put_nowait({"type": "websocket.connect"})
        task = self.loop.create_task(self._run_asgi(scope))
        self.server_state.tasks.add(task)
        task.add_done_callback(self.server_state.tasks.discard)

    def _deliver(self, message: dict[str, Any]) -> None:
        metrics.MESSAGES_IN.inc()
        self.queue.put_nowait(message)
        if not self.read_paused and self.queue.qsize() >= _MAX_QUEUED:
            self.read_paused = True
            self.transport.pause_reading()

    def _end(self, closed: Closed) -> None:
        error = closed.error
        if isinstance(error, InvalidRequest):
            self._record_handshake("rejected", str(error.status.value))
        elif isinstance(error, InvalidHello):
            self._record_handshake("failed", "hello")
        elif isinstance(error, ConnectionLost):
            self._record_handshake("failed", "lost")
        if self.opened.done():
            metrics.OPEN_CONNECTIONS.dec()
        else:
            self.opened.set_result(False)
        if self.app_started:
            code = 1000 if closed.clean else 1006
            reason = closed.body.decode(errors="replace")
            self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self._cancel_timer()

    def _record_handshake(self, outcome: str, reason: str) -> None:
        if not self.handshake_recorded:
            self.handshake_recorded = True
            metrics.HANDSHAKES.labels(outcome=outcome, reason=reason).inc()

    # The ASGI side.

    async def _run_asgi(self, scope: dict[str, Any]) -> None:
        try:
            await self.config.loaded_app(scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except Exception:
            logger.exception("! the application failed")
        finally:
            if self.core.state is State.ACCEPTING:
                self.core.reject(500, "the application did not answer the handshake")
                self._record_handshake("rejected", "500")
            elif self.core.state is State.OPEN:
                self.core.send_close()
            self._flush()

    async def receive(self) -> dict[str, Any]:
        """ASGI receive: the next message from the client, then a disconnect."""
        message = await self.queue.get()
        if self.read_paused and self.queue.qsize() <= _MAX_QUEUED // 2:
            self.read_paused = False
            self.transport.resume_reading()
        return message

    async def send(self, message: dict[str, Any]) -> None:
        """ASGI send: accept or refuse the handshake, send messages, close."""
        kind, state = message["type"], self.core.state
        if state is State.ACCEPTING and kind == "websocket.accept":
            self.core.accept(message.get("subprotocol"))
            self._flush()
            if not await self.opened:  # The HELLO exchange failed.
                raise ClientDisconnected
        elif state is State.ACCEPTING and kind == "websocket.close":
            self.core.reject(403, message.get("reason") or "the server refused the connection")
            self._record_handshake("rejected", "403")
            self._flush()
        elif state is State.OPEN and kind == "websocket.send":
            text = message.get("text")
            if text is not None:
                self.core.send_text(text)
            else:
                self.core.send_binary(message["bytes"])
            metrics.MESSAGES_OUT.inc()
            self._flush()
            await self.writable.wait()
        elif state is State.OPEN and kind == "websocket.close":
            self.close(message.get("reason") or "")
        elif state in (State.CLOSING, State.CLOSED):
            raise ClientDisconnected
        else:
            msg = f"unexpected ASGI message {kind!r} when the connection is {state.name}"
            raise RuntimeError(msg)

    # The outbox: sending without waiting, for fan-out.

    def send_prepared(self, message: PreparedMessage, latest_of: str | None = None) -> bool:
        """Write a message framed in advance, without waiting for the client.

        A client whose unsent data exceeds ``max_write_buffer`` is closed as too slow, so
        that one slow reader never holds up the others or grows memory.

        A message with ``latest_of`` is conflated: while the client is slow (more than
        ``slow_write_buffer`` bytes wait), it is held instead, replacing the message held
        for the same key, and sent once the client catches up. So a slow client costs at
        most one held message per key, and is not closed for messages it would never need.

        Args:
            message: the message.
            latest_of: the key of the messages this one makes stale, for example its
                topic's channel; None if every message must be sent.

        Returns:
            False if the connection is not open or was just closed as too slow.
        """
        if self.core.state is not State.OPEN:
            return False
        if latest_of is not None and not self.writable.is_set():
            if latest_of in self.held:
                metrics.CONFLATED.inc()
            self.held[latest_of] = message
            return True
        if self.transport.get_write_buffer_size() > self.settings.max_write_buffer:
            metrics.SLOW_CLOSES.inc()
            self.close("too slow: messages are piling up")
            return False
        self._write_prepared(message)
        return True

    def drop_held(self, latest_of: str) -> None:
        """Forget the message held for ``latest_of``, if any: it is no longer wanted."""
        self.held.pop(latest_of, None)

    def _write_prepared(self, message: PreparedMessage) -> None:
        self.core.send_prepared(message)
        metrics.MESSAGES_OUT.inc()
        self._flush()

    def close(self, reason: str) -> None:
        """Start the closing handshake, with ``reason`` as the Close body."""
        if self.core.state is State.OPEN:
            self.core.send_close(close_body(reason))
            self._flush()


class HTTPProtocol(H11Protocol):
    """uvicorn's h11 protocol, with the handshake deadline running from connect.

    uvicorn arms no timer before a connection's first request, and hands a draft request to
    :class:`DraftProtocol` only once it is complete, so a client that connects and sends
    nothing, or half a request, would hold its connection forever. This closes such a
    connection after ``handshake_timeout``. Run uvicorn with
    ``http="gateway.draft:HTTPProtocol"``.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        settings: DraftSettings = self.app_state.get(SETTINGS) or DraftSettings()
        self.request_timer = self.loop.call_later(
            settings.limits.handshake_timeout, self._no_request
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.request_timer.cancel()
        super().connection_lost(exc)

    def _no_request(self) -> None:
        # uvicorn sets the scope when a request's head is complete; after a draft handover
        # this object no longer receives anything and DraftProtocol's own timer runs.
        if self.scope is None and not self.transport.is_closing():
            self.transport.close()
