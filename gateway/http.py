"""The gateway's HTTP side: uvicorn's h11 protocol, with the limits a front proxy enforces.

uvicorn gives every new connection to this protocol (``http="gateway.http:HTTPProtocol"``);
a WebSocket request's head is handed over to :class:`gateway.connection.Connection`. Every
socket counts toward ``max_connections`` from the moment it is accepted, and its requests
are held to the connection settings' :class:`wsdraft.Limits`:

- **the head** of each request is at most ``max_header_size`` bytes however it arrives:
  h11 bounds only a head that arrives in pieces. Beyond: ``431``.
- **each request**, head and body, arrives within ``handshake_timeout`` of when the server
  began waiting for it: from the connection, or the end of the previous response. A client
  that sends nothing between requests is closed sooner, by uvicorn's keep-alive timeout.
  Late: ``408`` if part of it came, and the connection is closed.
- **a WebSocket upgrade** is HTTP/1.1: ``505`` for another version (the draft and RFC 6455
  both say so; uvicorn would rewrite the head as HTTP/1.1).

Each refusal answers with the reason as a one-line plain text body and closes the
connection as nginx's ``lingering_close`` does: the answer, then the end of the server's
side, then what the client still sends is read and dropped for up to the connection
settings' ``linger`` seconds.
Closed at once with bytes unread, the socket would send a reset, and a client still
sending (a head too large, a slow request) could lose the answer before reading it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState
from websockets.server import ServerProtocol as _ResponseBuilder

from . import metrics
from .connection import SETTINGS, ConnectionSettings

__all__ = ["HTTPProtocol", "head_size"]

# Where a head ends: its blank line (h11 accepts bare LF line endings too).
_HEAD_END = re.compile(rb"\n\r?\n")
# h11's states of a client between requests or in one, while a head may be arriving.
_BEFORE_HEAD = (h11.IDLE, h11.DONE)
# ... and while the server waits for the rest of a request.
_RECEIVING = (h11.IDLE, h11.SEND_BODY)


def head_size(buffer: bytes) -> int:
    """The size of the request head at the start of ``buffer``: up to its blank line, or
    all of ``buffer`` while the head is not complete. Blank lines before it do not count."""
    buffer = buffer.lstrip(b"\r\n")
    end = _HEAD_END.search(buffer)
    return len(buffer) if end is None else end.end()


class HTTPProtocol(H11Protocol):
    """uvicorn's h11 protocol with the gateway's connection count, head size and request
    deadline (see the module's documentation)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.settings: ConnectionSettings = app_state.get(SETTINGS) or ConnectionSettings()
        # The deadline of the request being received, while one is awaited; once refused,
        # the end of the lingering.
        self.request_timer: asyncio.TimerHandle | None = None
        self.refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        live, most = self.settings.live, self.settings.max_connections
        if len(live) >= most:
            reason = f"the server is full ({most} connections)"
            self._refuse(HTTPStatus.SERVICE_UNAVAILABLE, reason, [("Retry-After", "5")])
            return
        live.add(self)
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        self.settings.live.discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return  # Lingering: read and dropped.
        if self.conn.their_state in _BEFORE_HEAD:
            limit = self.settings.limits.max_header_size
            if head_size(self.conn.trailing_data[0] + data) > limit:
                status = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
                self._refuse(status, f"the request head is over {limit} bytes")
                return
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        # The Connection takes over with its own deadline; a timer left running would keep
        # this object, its h11 state and the request's headers alive until it fires.
        self._stop_timer()
        if event.http_version != b"1.1":
            version = event.http_version.decode("ascii", "replace")
            status = HTTPStatus.HTTP_VERSION_NOT_SUPPORTED
            self._refuse(status, f"HTTP/{version} is not supported, use 1.1")
            return
        self.settings.live.discard(self)  # The Connection counts itself.
        super().handle_websocket_upgrade(event)

    def _follow(self) -> None:
        """Keep a deadline while a request is awaited or arriving, none otherwise (nor once
        a WebSocket connection took the transport over, nor once refused)."""
        if self.refused:
            return
        handed_over = self.transport.get_protocol() is not self
        if handed_over or self.transport.is_closing() or self.conn.their_state not in _RECEIVING:
            self._stop_timer()
        elif self.request_timer is None:
            timeout = self.settings.limits.handshake_timeout
            self.request_timer = self.loop.call_later(timeout, self._time_out)

    def _stop_timer(self) -> None:
        if self.request_timer is not None:
            self.request_timer.cancel()
            self.request_timer = None

    def _time_out(self) -> None:
        self.request_timer = None
        started = self.conn.their_state is h11.SEND_BODY or self.conn.trailing_data[0]
        if started and self.conn.our_state is h11.IDLE:  # Part of a request: say why.
            self._refuse(HTTPStatus.REQUEST_TIMEOUT, "the request did not arrive in time")
        else:
            self.transport.close()

    def _refuse(
        self, status: HTTPStatus, reason: str, headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        """Answer ``status`` with ``reason``, whatever h11's state, and close."""
        if not self.transport.is_closing():
            metrics.HTTP_REFUSALS.labels(status=str(status.value)).inc()
            response = _ResponseBuilder().reject(status, reason + "\n")
            response.headers.update(headers)
            self.transport.write(response.serialize())
            self._linger()

    def _linger(self) -> None:
        """End the server's side, drop what still comes, close after ``linger`` seconds
        (or when the client closes: the transport then closes itself)."""
        self._stop_timer()
        self.refused = True
        if not self.transport.can_write_eof():  # TLS: no half-close.
            self.transport.close()
            return
        self.transport.write_eof()
        self.transport.resume_reading()  # h11 may have paused it, for a pipelined request.
        self.request_timer = self.loop.call_later(self.settings.linger, self.transport.close)
