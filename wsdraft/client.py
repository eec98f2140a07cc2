"""The client side: send the opening request, check the 101 response and the server HELLO."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence
from typing import ClassVar

import h11

from .events import Opened
from .exceptions import (
    HandshakeRejected,
    InvalidHello,
    InvalidResponse,
    LocalProtocolError,
    RemoteProtocolError,
)
from .handshake import (
    DRAFT_VERSION,
    NONCE_SIZE,
    SERVER_HELLO_HEAD,
    SERVER_HELLO_SIZE,
    client_hello,
    format_nonce,
    header_tokens,
    nonce_or_new,
    server_digest,
    valid_subprotocol,
)
from .limits import Limits
from .protocol import Protocol
from .state import State, Trigger
from .uri import WebSocketURI, parse_uri

__all__ = ["ClientProtocol"]

# The reason a rejecting server gives is read from its response body, up to this many bytes.
_MAX_REASON_SIZE = 1024


class ClientProtocol(Protocol):
    """A client connection. The opening request is queued at once: call ``data_to_send()``.

    Args:
        uri: the ``ws://`` or ``wss://`` URL to connect to.
        origin: the ``Origin`` header; by default the URL's http(s) origin.
        subprotocol: the subprotocol to ask for, if any.
        nonce: the 8-octet client nonce; random by default (tests pin it).
        limits: sizes and timeouts.
        logger: where to log; ``wsdraft.client`` by default.
        headers: more headers for the request, after the draft's: ``Authorization``,
            for example.

    Raises:
        InvalidURI: ``uri`` is not a usable WebSocket URL.
        LocalProtocolError: ``origin``, ``subprotocol`` or ``headers`` cannot be sent.
    """

    closes_transport_first: ClassVar[bool] = False
    _peer_hello = (SERVER_HELLO_HEAD, SERVER_HELLO_SIZE)

    def __init__(
        self,
        uri: WebSocketURI | str,
        *,
        origin: str | None = None,
        subprotocol: str | None = None,
        nonce: bytes | None = None,
        limits: Limits | None = None,
        logger: logging.Logger | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(limits=limits, logger=logger or logging.getLogger("wsdraft.client"))
        self.headers = tuple(headers)
        self.uri = parse_uri(uri) if isinstance(uri, str) else uri
        self.origin = self.uri.origin if origin is None else origin
        if subprotocol is not None and not valid_subprotocol(subprotocol):
            msg = f"invalid subprotocol {subprotocol!r}: use only A-Z a-z 0-9 / _ -"
            raise LocalProtocolError(msg)
        self.requested_subprotocol = subprotocol
        self.nonce = nonce_or_new(nonce)
        self._http = h11.Connection(
            h11.CLIENT, max_incomplete_event_size=self.limits.max_header_size
        )
        # The status and body of an error response, while its body arrives.
        self._rejection: h11.Response | None = None
        self._rejection_body = bytearray()
        self._send_request()

    def _send_request(self) -> None:
        # Header order as in the draft's example, so the bytes match its test vector.
        headers = [
            ("Host", self.uri.authority),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Nonce", format_nonce(self.nonce)),
        ]
        if self.requested_subprotocol is not None:
            headers.append(("Sec-WebSocket-Protocol", self.requested_subprotocol))
        headers += [
            ("Upgrade", "WebSocket"),
            ("Origin", self.origin),
            ("Sec-WebSocket-Draft", DRAFT_VERSION),
            *self.headers,
        ]
        try:
            request = h11.Request(method="GET", target=self.uri.resource, headers=headers)
            self._output.append(self._http.send(request) + self._http.send(h11.EndOfMessage()))
        except h11.LocalProtocolError as exc:
            msg = f"cannot send this request: {exc}"
            raise LocalProtocolError(msg) from None

    def receive_eof(self) -> None:
        """Tell the core the server closed the transport (see :meth:`Protocol.receive_eof`)."""
        if self._rejection is not None and self._state is State.CONNECTING:
            # An error response without Content-Length ends when the connection closes:
            # b"" tells h11 so.
            try:
                self._receive_http(b"")
            except RemoteProtocolError as exc:
                self._fail(exc)
        super().receive_eof()

    def _receive_http(self, data: bytes) -> None:
        self._http.receive_data(data)
        while True:
            try:
                event = self._http.next_event()
            except h11.RemoteProtocolError as exc:
                msg = f"malformed HTTP response: {exc}"
                raise InvalidResponse(msg) from None
            if event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                return
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:
                    self._accept_response(event)
                    self._reader.feed(self._http.trailing_data[0])
                    return
            elif isinstance(event, h11.Response):
                self._rejection = event
            elif isinstance(event, h11.Data):
                room = _MAX_REASON_SIZE - len(self._rejection_body)
                self._rejection_body += event.data[: max(room, 0)]
            elif isinstance(event, h11.EndOfMessage) and self._rejection is not None:
                raise HandshakeRejected(self._rejection.status_code, self._rejection_reason())

    def _rejection_reason(self) -> str:
        assert self._rejection is not None
        body = bytes(self._rejection_body).decode(errors="replace").strip()
        if body:
            return body.splitlines()[0].strip()
        return self._rejection.reason.decode(errors="replace") or "no reason given"

    def _accept_response(self, response: h11.InformationalResponse) -> None:
        """Check the 101 response; §4.4 keeps hybi-03's checks of every header."""
        if response.http_version != b"1.1":
            version = response.http_version.decode()
            raise InvalidResponse(f"the response is HTTP/{version}, not HTTP/1.1")
        headers: dict[str, list[str]] = {}
        for name, value in response.headers:
            headers.setdefault(name.decode(), []).append(value.decode("latin-1").strip())

        def single(name: str) -> str | None:
            values = headers.get(name.lower())
            if values is None:
                return None
            if len(values) > 1:
                raise InvalidResponse(f"duplicate {name} header")
            return values[0]

        if (single("Upgrade") or "").lower() != "websocket":
            raise InvalidResponse("the Upgrade header is not WebSocket")
        if "upgrade" not in header_tokens(",".join(headers.get("connection", []))):
            raise InvalidResponse("the Connection header does not contain Upgrade")
        origin = single("Sec-WebSocket-Origin")
        if origin is None or origin.lower() != self.origin.lower():
            msg = f"Sec-WebSocket-Origin is {origin!r}, expected {self.origin!r}"
            raise InvalidResponse(msg)
        location = single("Sec-WebSocket-Location")
        if location is None or location.lower() != self.uri.location.lower():
            msg = f"Sec-WebSocket-Location is {location!r}, expected {self.uri.location!r}"
            raise InvalidResponse(msg)
        subprotocol = single("Sec-WebSocket-Protocol")
        if subprotocol is not None and subprotocol != self.requested_subprotocol:
            msg = f"the server chose subprotocol {subprotocol!r}, which was not requested"
            raise InvalidResponse(msg)
        self.subprotocol = subprotocol
        self._move(Trigger.RESPONSE_RECEIVED)

    def _receive_hello(self) -> bool:
        payload = self._read_hello()
        if payload is None:
            return False
        server_nonce, digest = payload[:NONCE_SIZE], payload[NONCE_SIZE:]
        # §4.4: "fail unless digest == MD5(client_nonce ‖ "WebSocket" ‖ server_nonce)".
        if not hmac.compare_digest(digest, server_digest(self.nonce, server_nonce)):
            raise InvalidHello("the server HELLO digest is wrong")
        # "Only after verifying the contents of the Hello frame may the client application
        # be notified": answer first, then report the connection open.
        self._output.append(client_hello(self.nonce, server_nonce))
        self._move(Trigger.HELLO_VERIFIED)
        self._events.append(Opened(subprotocol=self.subprotocol))
        return True
