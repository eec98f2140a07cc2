"""One client connection, in any wire protocol, served to unchanged FastAPI endpoints.

uvicorn hands every request carrying ``Upgrade: websocket`` to the class named by its ``ws``
setting (``ws="gateway.connection:Connection"``), so HTTP and WebSocket share one port.
:class:`Connection` is the I/O layer between that transport, the sans-I/O core of the
protocol the request asks for (:mod:`gateway.wire`) and the ASGI application; every
protocol decision is the core's, and what is sent when is the connection's
:class:`~gateway.outbox.Outbox`'s.

It relies on uvicorn's undocumented contract for ws classes (the constructor's keywords,
``server_state``, ``shutdown()``, the request head passed to ``data_received`` before
``set_protocol``), which is why uvicorn is pinned; see
/work/shared/guides/ecosystem-notes.md §1 and docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import unquote

from uvicorn.config import Config
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
    Request,
    State,
    TextMessage,
)

from . import metrics
from .liveness import Step, next_step
from .origins import OriginPolicy
from .outbox import Framing, Outbox
from .wire import WIRES, Wire, choose

__all__ = [
    "OUTBOX",
    "PROTOCOL",
    "RECEIVED_AT",
    "SETTINGS",
    "Connection",
    "ConnectionSettings",
]

logger = logging.getLogger("wslab.gateway")

#: The key of :class:`ConnectionSettings` in the application's lifespan state.
SETTINGS = "wslab.connections"
#: The ASGI scope extension holding the connection's :class:`~gateway.outbox.Outbox`.
OUTBOX = "wslab.outbox"
#: The ASGI scope extension naming the connection's wire protocol (a key of ``WIRES``).
PROTOCOL = "wslab.protocol"
#: The key of a ``websocket.receive`` message holding the Unix time the message arrived.
RECEIVED_AT = "wslab.received_at"

# Received messages queued for the application before reading from the socket pauses.
_MAX_QUEUED = 16


class Flusher:
    """Writes what connections gathered during one event-loop turn: one write each.

    A fan-out hands a message to every subscribed connection in one turn; writing each
    frame as it comes costs a ``send`` system call per frame. Instead a connection gathers
    its frames (:meth:`Connection.write`) and the flusher writes them once per turn, all
    of a connection's frames in one call, and counts the bytes once.
    """

    def __init__(self) -> None:
        self._dirty: list[Connection] = []

    def add(self, connection: Connection) -> None:
        """Write ``connection``'s gathered frames at the end of this turn."""
        if not self._dirty:
            asyncio.get_running_loop().call_soon(self._flush)
        self._dirty.append(connection)

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        metrics.BYTES_OUT.inc(sum(connection.uncork() for connection in dirty))


@dataclass
class ConnectionSettings:
    """How connections are served; the app's lifespan yields it as ``SETTINGS``.

    Attributes:
        limits: sizes and timeouts of each connection, whatever its protocol.
        origins: the pages' origins accepted besides the gateway's own.
        max_connections: open connections beyond this are answered 503.
        slow_write_buffer: bytes waiting to be sent to one client beyond which it is slow:
            the transport's high-water mark. Sends wait, and conflated messages are held,
            until the buffer drains to a quarter of it (docs/BUS.md, "Conflation").
        max_write_buffer: bytes that may wait to be sent to one client before it is
            closed as too slow; above ``slow_write_buffer``.
        live: the sockets open in this process, HTTP and WebSocket: each counts toward
            ``max_connections``.
        clock: the Unix time, read when a message arrives: ``received_at`` in the ASGI
            ``websocket.receive`` message.
        flusher: writes the frames the outboxes gathered, once per event-loop turn.
        overloaded: True when the gateway sheds load: new connections are answered 503.
        ping_interval: seconds a connection may be quiet before it is pinged.
        ping_timeout: seconds a ping may go unanswered before the connection is closed.
        linger: seconds a connection refused on its HTTP side is still read (and what
            comes dropped) before it is closed, so that the client gets the answer
            (gateway.http).
    """

    limits: Limits = field(default_factory=Limits)
    origins: OriginPolicy = field(default_factory=OriginPolicy)
    max_connections: int = 10_000
    # asyncio's own default high-water mark.
    slow_write_buffer: int = 64 * 1024
    max_write_buffer: int = 2**20
    live: set[asyncio.BaseProtocol] = field(default_factory=set)
    clock: Callable[[], float] = time.time
    flusher: Flusher = field(default_factory=Flusher)
    overloaded: Callable[[], bool] = lambda: False
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    linger: float = 2.0


class Connection(asyncio.Protocol):
    """One WebSocket connection, from uvicorn's handover to the end.

    The first bytes are the request head; its headers choose the wire protocol.
    """

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
        self.settings: ConnectionSettings = app_state.get(SETTINGS) or ConnectionSettings()
        self.loop = _loop or asyncio.get_event_loop()
        self.server_state = server_state
        self.transport: asyncio.Transport
        #: The wire protocol's name and core, once the request head arrived.
        self.protocol = ""
        self.wire: Wire | None = None
        #: The core's framing, once chosen, and whether it is open, as of the last
        #: :meth:`_flush`: read for every message of a fan-out, so kept at hand.
        self.framing: Framing
        self.open = False
        self.outbox = Outbox(self, self.settings.max_write_buffer)
        # Frames the outbox wrote this turn, for the flusher; their total size.
        self.corked: list[bytes] = []
        self.corked_size = 0
        # ASGI messages for the application, and the future it waits on while there are
        # none: lighter than an asyncio.Queue, which each idle connection would keep.
        self.inbox: deque[dict[str, Any]] = deque()
        self.inbox_waiter: asyncio.Future[None] | None = None
        # True once the connection is open, False if it ended before.
        self.opened: asyncio.Future[bool] = self.loop.create_future()
        # What the application's own sends wait on while the client is slow.
        self.drained: asyncio.Future[None] | None = None
        self.read_paused = False
        self.app_started = False
        self.handshake_recorded = False
        # The handshake deadline, then the deadline for the peer's Close.
        self.timer: asyncio.TimerHandle | None = None
        # A refusal the application is sending: its status, headers and body so far.
        self.denial: tuple[int, list[tuple[bytes, bytes]], list[bytes]] | None = None
        # When the client was last heard from, and when a ping still unanswered went out.
        self.heard = self.settings.clock()
        self.pinged: float | None = None

    @property
    def state(self) -> State:
        """The wire protocol's state; CONNECTING until the request head arrived."""
        return State.CONNECTING if self.wire is None else self.wire.state

    # uvicorn's transport callbacks.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: uvloop's TCPTransport has every method of
        # asyncio.Transport without deriving from it.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(high=self.settings.slow_write_buffer)
        # uvicorn types this set with its own classes; any object with shutdown() works.
        self.server_state.connections.add(self)  # type: ignore[arg-type]
        self.settings.live.add(self)
        self.timer = self.loop.call_later(self.settings.limits.handshake_timeout, self._time_out)

    def data_received(self, data: bytes) -> None:
        metrics.BYTES_IN.inc(len(data))
        self.heard, self.pinged = self.settings.clock(), None
        if self.wire is None:
            self.protocol = choose(data)
            self.wire = WIRES[self.protocol](
                secure=is_ssl(self.transport), limits=self.settings.limits
            )
            self.framing = self.wire.framing
        self.wire.receive_data(data)
        self._flush()

    def eof_received(self) -> None:
        if self.wire is not None:
            self.wire.receive_eof()
            self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.corked, self.corked_size = [], 0
        self.eof_received()
        self.server_state.connections.discard(self)
        self.settings.live.discard(self)
        self._wake_senders()  # The buffer will never drain now.
        self.outbox.clear()
        self._cancel_timer()

    def pause_writing(self) -> None:
        self.outbox.pause()

    def resume_writing(self) -> None:
        self._wake_senders()
        self.outbox.resume()

    def _wake_senders(self) -> None:
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)
        self.drained = None

    def shutdown(self) -> None:
        """Called by uvicorn when the server stops."""
        if self.state is State.OPEN:
            self.close("server shutting down", 1001)
        else:
            self.transport.close()

    # What the outbox writes through (gateway.outbox.Writer).

    def is_open(self) -> bool:
        return self.open

    def write(self, frames: tuple[bytes, ...]) -> None:
        if not self.corked:
            self.settings.flusher.add(self)
        self.corked += frames
        self.corked_size += sum(map(len, frames))

    def buffered(self) -> int:
        return self.transport.get_write_buffer_size() + self.corked_size

    def uncork(self) -> int:
        """Write the gathered frames now, in one call; return their size."""
        size = self.corked_size
        if self.corked and not self.transport.is_closing():
            self.transport.write(b"".join(self.corked))
        self.corked, self.corked_size = [], 0
        return size

    def close(self, reason: str, code: int = 1000) -> None:
        """Start the closing handshake, with ``code`` and ``reason``, if open."""
        if self.wire is not None:
            self.wire.close(reason, code)
            self._flush()

    def check_alive(self, now: float) -> None:
        """Ping the client if it has been quiet, close it if a ping went unanswered
        (gateway.liveness)."""
        if not self.open:
            return
        settings = self.settings
        step = next_step(
            now,
            self.heard,
            self.pinged,
            interval=settings.ping_interval,
            timeout=settings.ping_timeout,
        )
        if step is Step.PING:
            assert self.wire is not None
            self.wire.send_ping(b"")
            self.pinged = now
            self._flush()
        elif step is Step.CLOSE:
            metrics.PING_TIMEOUTS.inc()
            logger.info(
                "! closing %s: no answer to a ping in %g s", self.protocol, now - self.heard
            )
            self.close("no answer to a ping in time", 1011)

    # Driving the core.

    def _flush(self) -> None:
        """Write what the core queued, then act on what it reported."""
        wire = self.wire
        assert wire is not None
        output = wire.data_to_send()
        if output and self.corked:
            metrics.BYTES_OUT.inc(self.uncork())  # What the outbox wrote goes first.
        for data in output:
            if data:
                self.transport.write(data)
                metrics.BYTES_OUT.inc(len(data))
            else:
                self.transport.close()
        state = wire.state
        self.open = state is State.OPEN
        if state is State.CLOSING and self.timer is None:
            self.timer = self.loop.call_later(wire.limits.close_timeout, self._time_out)
        for event in wire.events_received():
            match event:
                case Request():
                    self._start_app(event)
                case Opened():
                    self._cancel_timer()
                    self._record_handshake("accepted", "ok")
                    metrics.OPEN_CONNECTIONS.labels(protocol=self.protocol).inc()
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
        if self.state is not State.OPEN:
            self._record_handshake("failed", "timeout")
            self.transport.abort()

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _start_app(self, request: Request) -> None:
        assert self.wire is not None
        forbidden = self.settings.origins.refusal(request.origin or None, request.host)
        if forbidden is not None:
            self.wire.reject(403, forbidden)
            self._record_handshake("rejected", "origin")
            self._flush()
            return
        refusal = self._refusal()
        if refusal is not None:
            reason, label = refusal
            self.wire.reject(503, reason, [("Retry-After", "5")])
            self._record_handshake("rejected", label)
            self._flush()
            return
        path, _, query = request.resource.partition("?")
        root_path = self.config.root_path
        scope = {
            "type": "websocket",
            "asgi": {"version": self.config.asgi_version, "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": "wss" if self.wire.secure else "ws",
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
            "extensions": {
                OUTBOX: self.outbox,
                PROTOCOL: self.protocol,
                "websocket.http.response": {},
            },
        }
        self.app_started = True
        self._put({"type": "websocket.connect"})
        task = self.loop.create_task(self._run_asgi(scope))
        self.server_state.tasks.add(task)
        task.add_done_callback(self.server_state.tasks.discard)

    def _put(self, message: dict[str, Any]) -> None:
        self.inbox.append(message)
        if self.inbox_waiter is not None and not self.inbox_waiter.done():
            self.inbox_waiter.set_result(None)

    def _refusal(self) -> tuple[str, str] | None:
        """Why a new connection must wait (its 503's reason and metric label), if it must."""
        if len(self.settings.live) > self.settings.max_connections:
            return f"the server is full ({self.settings.max_connections} connections)", "503"
        if self.settings.overloaded():
            return "the server is overloaded; try again later", "overloaded"
        return None

    def _deliver(self, message: dict[str, Any]) -> None:
        # When it arrived, not when the application gets to it: a backlog keeps its times.
        message[RECEIVED_AT] = self.settings.clock()
        metrics.MESSAGES_IN.inc()
        self._put(message)
        if not self.read_paused and len(self.inbox) >= _MAX_QUEUED:
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
            metrics.OPEN_CONNECTIONS.labels(protocol=self.protocol).dec()
        else:
            self.opened.set_result(False)
        if self.app_started:
            code = 1000 if closed.clean else 1006
            reason = closed.body.decode(errors="replace")
            self._put({"type": "websocket.disconnect", "code": code, "reason": reason})
        self._cancel_timer()

    def _record_handshake(self, outcome: str, reason: str) -> None:
        if not self.handshake_recorded:
            self.handshake_recorded = True
            protocol = self.protocol or "none"
            metrics.HANDSHAKES.labels(protocol=protocol, outcome=outcome, reason=reason).inc()

    def _reject(self, status: int, reason: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        assert self.wire is not None
        self.wire.reject(status, reason, headers)
        self._record_handshake("rejected", str(status))
        self._flush()

    # The ASGI side.

    async def _run_asgi(self, scope: dict[str, Any]) -> None:
        assert self.wire is not None
        try:
            await self.config.loaded_app(scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except Exception:
            logger.exception("! the application failed")
        finally:
            if self.state is State.ACCEPTING:
                self.wire.reject(500, "the application did not answer the handshake")
                self._record_handshake("rejected", "500")
            elif self.state is State.OPEN:
                self.wire.close("")
            self._flush()

    async def receive(self) -> dict[str, Any]:
        """ASGI receive: the next message from the client, then a disconnect."""
        while not self.inbox:
            self.inbox_waiter = self.loop.create_future()
            try:
                await self.inbox_waiter
            finally:
                self.inbox_waiter = None
        message = self.inbox.popleft()
        if self.read_paused and len(self.inbox) <= _MAX_QUEUED // 2:
            self.read_paused = False
            self.transport.resume_reading()
        return message

    async def send(self, message: dict[str, Any]) -> None:
        """ASGI send: accept or refuse the handshake, send messages, close."""
        wire = self.wire
        assert wire is not None
        kind, state = message["type"], wire.state
        if state is State.ACCEPTING and kind == "websocket.accept":
            wire.accept(message.get("subprotocol"))
            self._flush()
            if not await self.opened:  # The opening handshake failed.
                raise ClientDisconnected
        elif state is State.ACCEPTING and kind == "websocket.close":
            self._reject(403, message.get("reason") or "the server refused the connection")
        elif state is State.ACCEPTING and kind == "websocket.http.response.start":
            self.denial = (message["status"], message.get("headers", []), [])
        elif state is State.ACCEPTING and kind == "websocket.http.response.body":
            assert self.denial is not None, "websocket.http.response.start comes first"
            status, headers, body = self.denial
            body.append(message.get("body", b""))
            if not message.get("more_body", False):
                reason = b"".join(body).decode(errors="replace")
                self._reject(status, reason, [(n.decode(), v.decode()) for n, v in headers])
        elif state is State.OPEN and kind == "websocket.send":
            text = message.get("text")
            if text is not None:
                wire.send_text(text)
            else:
                wire.send_binary(message["bytes"])
            metrics.MESSAGES_OUT.inc()
            self._flush()
            if not self.outbox.writable and not self.transport.is_closing():
                self.drained = self.drained or self.loop.create_future()
                await self.drained
        elif state is State.OPEN and kind == "websocket.close":
            self.close(message.get("reason") or "", message.get("code", 1000))
        elif state in (State.CLOSING, State.CLOSED):
            raise ClientDisconnected
        else:
            msg = f"unexpected ASGI message {kind!r} when the connection is {state.name}"
            raise RuntimeError(msg)
