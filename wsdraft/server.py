"""The server side: validate the opening request, answer it, and check the client HELLO."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Collection, Sequence
from http import HTTPStatus
from typing import ClassVar

import h11

from .events import Opened, Request
from .exceptions import InvalidHello, InvalidRequest, LocalProtocolError, RemoteProtocolError
from .handshake import (
    CLIENT_HELLO_HEAD,
    CLIENT_HELLO_SIZE,
    DRAFT_VERSION,
    client_digest,
    header_tokens,
    invalid_resource,
    nonce_or_new,
    parse_nonce,
    server_hello,
    valid_subprotocol,
)
from .limits import Limits
from .protocol import Protocol
from .state import State, Trigger

__all__ = ["ServerProtocol"]

# Headers a request may carry once only.
_SINGLE = (
    "host",
    "upgrade",
    "origin",
    "sec-websocket-nonce",
    "sec-websocket-draft",
    "sec-websocket-protocol",
)


class ServerProtocol(Protocol):
    """A server connection.

    Feed it the request; on a :class:`~wsdraft.events.Request` event call :meth:`accept` or
    :meth:`reject`. A request that breaks the draft is answered with its HTTP status and a
    one-line reason without bothering the application.

    Args:
        origins: the ``Origin`` values to accept; any origin if None.
        secure: True if the transport is TLS, so ``Sec-WebSocket-Location`` says ``wss``.
        nonce: the 8-octet server nonce; random by default (tests pin it).
        limits: sizes and timeouts.
        logger: where to log; ``wsdraft.server`` by default.
    """

    closes_transport_first: ClassVar[bool] = True
    _peer_hello = (CLIENT_HELLO_HEAD, CLIENT_HELLO_SIZE)

    def __init__(
        self,
        *,
        origins: Collection[str] | None = None,
        secure: bool = False,
        nonce: bytes | None = None,
        limits: Limits | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        super().__init__(limits=limits, logger=logger or logging.getLogger("wsdraft.server"))
        self.origins = None if origins is None else frozenset(origins)
        self.secure = secure
        self.nonce = nonce_or_new(nonce)
        #: The request, once a valid one has arrived.
        self.request: Request | None = None
        self._client_nonce = b""
        self._http = h11.Connection(
            h11.SERVER, max_incomplete_event_size=self.limits.max_header_size
        )

    def _receive_http(self, data: bytes) -> None:
        if self._state is State.ACCEPTING:
            self._hold_early_data(data)
            return
        self._http.receive_data(data)
        while True:
            try:
                event = self._http.next_event()
            except h11.RemoteProtocolError as exc:
                raise InvalidRequest(HTTPStatus(exc.error_status_hint), str(exc)) from None
            if event is h11.NEED_DATA:
                return
            if isinstance(event, h11.Request):
                self.request = self._validate(event)
            elif isinstance(event, h11.Data):
                raise InvalidRequest(HTTPStatus.BAD_REQUEST, "an opening request has no body")
            elif event is h11.PAUSED:
                assert self.request is not None  # h11 pauses after a whole request
                self._move(Trigger.REQUEST_RECEIVED)
                self._events.append(self.request)
                self._hold_early_data(self._http.trailing_data[0])
                return

    def _hold_early_data(self, data: bytes) -> None:
        # The client may not send anything before our HELLO; hold a pipelined HELLO. The
        # bytes that came with the request count too, so the outcome does not depend on
        # how the stream was split.
        self._reader.feed(data)
        if self._reader.buffered > CLIENT_HELLO_SIZE:
            raise InvalidHello("data received before the server HELLO")

    def _validate(self, request: h11.Request) -> Request:
        """Check the request against §4.2; raise InvalidRequest with the status to send."""
        if request.method != b"GET":
            method = request.method.decode("latin-1")
            raise InvalidRequest(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} is not allowed, use GET")
        if request.http_version != b"1.1":
            version = request.http_version.decode("latin-1")
            raise InvalidRequest(
                HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"HTTP/{version} is not supported, use 1.1"
            )
        headers: dict[str, list[str]] = {}
        for raw_name, raw_value in request.headers:
            headers.setdefault(raw_name.decode(), []).append(raw_value.decode("latin-1").strip())
        for name in _SINGLE:
            if len(headers.get(name, [])) > 1:
                raise InvalidRequest(HTTPStatus.BAD_REQUEST, f"duplicate {name} header")
        get = {name: values[0] for name, values in headers.items()}.get

        # [I] Both compared case-insensitively, like HTTP and the 2010 test client.
        if (get("upgrade") or "").lower() != "websocket":
            raise InvalidRequest(HTTPStatus.BAD_REQUEST, "the Upgrade header must be WebSocket")
        if "upgrade" not in header_tokens(",".join(headers.get("connection", []))):
            raise InvalidRequest(
                HTTPStatus.BAD_REQUEST, "the Connection header must contain Upgrade"
            )
        # [I] A missing Sec-WebSocket-Draft is taken as 3.
        draft = get("sec-websocket-draft", DRAFT_VERSION)
        if draft != DRAFT_VERSION:
            raise InvalidRequest(
                HTTPStatus.BAD_REQUEST, f"Sec-WebSocket-Draft {draft} is not supported, use 3"
            )
        nonce = get("sec-websocket-nonce")
        if nonce is None:
            raise InvalidRequest(HTTPStatus.BAD_REQUEST, "missing Sec-WebSocket-Nonce header")
        client_nonce = parse_nonce(nonce)
        if client_nonce is None:
            raise InvalidRequest(
                HTTPStatus.BAD_REQUEST, "Sec-WebSocket-Nonce must be 16 hex digits"
            )
        resource = request.target.decode("latin-1")
        problem = invalid_resource(resource)
        if problem is not None:
            raise InvalidRequest(HTTPStatus.BAD_REQUEST, f"invalid resource name: {problem}")
        subprotocol = get("sec-websocket-protocol")
        if subprotocol is not None and not valid_subprotocol(subprotocol):
            raise InvalidRequest(
                HTTPStatus.BAD_REQUEST,
                "Sec-WebSocket-Protocol may only use A-Z a-z 0-9 / _ -",
            )
        if int(get("content-length", "0") or "0") or "transfer-encoding" in headers:
            raise InvalidRequest(HTTPStatus.BAD_REQUEST, "an opening request has no body")
        origin = get("origin")
        if origin is None:
            raise InvalidRequest(HTTPStatus.BAD_REQUEST, "missing Origin header")
        if self.origins is not None and origin not in self.origins:
            raise InvalidRequest(HTTPStatus.FORBIDDEN, f"origin {origin} is not allowed")
        self._client_nonce = client_nonce
        return Request(
            resource=resource,
            # h11 insists on a Host header in HTTP/1.1 requests.
            host=get("host", ""),
            origin=origin,
            subprotocol=subprotocol,
            headers=tuple((name, value) for name, values in headers.items() for value in values),
        )

    def accept(self, subprotocol: str | None = None) -> None:
        """Answer the request with 101 and the server HELLO; call ``data_to_send()`` next.

        :class:`~wsdraft.events.Opened` follows once the client's HELLO is verified; the
        connection cannot send messages before.

        Args:
            subprotocol: the subprotocol to use: the one the client asked for, or None.

        Raises:
            LocalProtocolError: no request is waiting, or the subprotocol was not requested.
        """
        request = self.request
        # Check the subprotocol before moving, so that a refused call changes nothing.
        if self._state is State.ACCEPTING and subprotocol is not None:
            assert request is not None
            if subprotocol != request.subprotocol:
                msg = f"the client did not ask for subprotocol {subprotocol!r}"
                raise LocalProtocolError(msg)
        self._move(Trigger.ACCEPT)
        assert request is not None
        self.subprotocol = subprotocol
        location = f"{'wss' if self.secure else 'ws'}://{request.host}{request.resource}"
        # Origin and Host were decoded as latin-1 and may hold any byte HTTP allows:
        # encode them back, so they are echoed byte for byte.
        headers = [
            (b"Upgrade", b"WebSocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Origin", request.origin.encode("latin-1")),
            (b"Sec-WebSocket-Location", location.encode("latin-1")),
        ]
        if subprotocol is not None:
            headers.append((b"Sec-WebSocket-Protocol", subprotocol.encode()))
        response = h11.InformationalResponse(
            status_code=101, reason=b"Switching Protocols", headers=headers
        )
        self._output.append(self._http.send(response))
        self._output.append(server_hello(self._client_nonce, self.nonce))
        # A client HELLO that arrived with the request is waiting in the reader.
        self._receive_hello_safely()

    def reject(
        self,
        status: HTTPStatus | int,
        reason: str,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Answer the request with an HTTP error and close; call ``data_to_send()`` next.

        Args:
            status: the HTTP status, for example 503 when the server is full.
            reason: one line for the client, sent as the body.
            headers: extra headers, for example ``Retry-After``.

        Raises:
            LocalProtocolError: no request is waiting for an answer.
        """
        if self._state is not State.ACCEPTING:
            msg = f"cannot reject in state {self._state.name}"
            raise LocalProtocolError(msg)
        self._send_error_response(HTTPStatus(status), reason, headers)
        self._move(Trigger.REJECT)

    def _receive_hello_safely(self) -> None:
        try:
            self._receive_frames()
        except RemoteProtocolError as exc:
            self._fail(exc)

    def _receive_hello(self) -> bool:
        payload = self._read_hello()
        if payload is None:
            return False
        # §4.5: "fail if the 16 octets != MD5(server_nonce ‖ "WebSocket" ‖ client_nonce)".
        if not hmac.compare_digest(payload, client_digest(self._client_nonce, self.nonce)):
            raise InvalidHello("the client HELLO digest is wrong")
        self._move(Trigger.HELLO_VERIFIED)
        self._events.append(Opened(subprotocol=self.subprotocol))
        return True

    def _send_failure(self, exc: RemoteProtocolError) -> None:
        if self._state in (State.CONNECTING, State.ACCEPTING):
            status = exc.status if isinstance(exc, InvalidRequest) else HTTPStatus.BAD_REQUEST
            reason = exc.reason if isinstance(exc, InvalidRequest) else str(exc)
            self._send_error_response(status, reason, ())
        else:
            super()._send_failure(exc)

    def _send_error_response(
        self, status: HTTPStatus, reason: str, headers: Sequence[tuple[str, str]]
    ) -> None:
        body = (reason.splitlines()[0] if reason else status.phrase).encode() + b"\n"
        all_headers = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ]
        if status is HTTPStatus.METHOD_NOT_ALLOWED:
            all_headers.append(("Allow", "GET"))
        all_headers += headers
        response = h11.Response(
            status_code=status.value, reason=status.phrase.encode(), headers=all_headers
        )
        self._output.append(self._http.send(response) + self._http.send(h11.Data(data=body)))
