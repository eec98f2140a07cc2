"""The client side: send the opening request, check the 101 response and the server HELLO."""

from __future__ import annotations

import hmac
import logging
from typing import ClassVar

import h11

from .events import Opened
from .exceptions import (
    HandshakeRejected,
    InvalidHello,
    InvalidResponse,
    LocalProtocolError,
)
from .handshake import (
    DRAFT_VERSION,
    NONCE_SIZE,
    SERVER_HELLO_HEAD,
    SERVER_HELLO_SIZE,
    client_hello,
    format_nonce,
    header_tokens,
    new_nonce,
    server_digest,
    valid_subprotocol,
)
from .limits import Limits
from .protocol import Protocol
from .state import Trigger
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

    Raises:
        InvalidURI: ``uri`` is not a usable WebSocket URL.
        LocalProtocolError: ``origin`` or ``subprotocol`` cannot be sent.
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
    ) -> None:
        super().__init__(limits=limits, logger=logger or logging.getLogger("wsdraft.client"))
        self.uri = parse_uri(uri) if isinstance(uri, str) else uri
        self.origin = self.uri.origin if origin is None else origin
        if subprotocol is not None and not valid_subprotocol(subprotocol):
            msg = f"invalid subprotocol {subprotocol!r}: use only A-Z a-z 0-9 / _ -"
            raise LocalProtocolError(msg)
        self.requested_subprotocol = subprotocol
        self.nonce = new_nonce() if nonce is None else nonce
        if len(self.nonce) != NONCE_SIZE:
            msg = f"a nonce has {NONCE_SIZE} octets"
            raise LocalProtocolError(msg)
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
        ]
        try:
            request = h11.Request(method="GET", target=self.uri.resource, headers=headers)
            self._output.append(self._http.send(request) + self._http.send(h11.EndOfMessage()))
        except h11.LocalProtocolError as exc:
            msg = f"cannot send this request: {exc}"
            raise LocalProtocolError(msg) from None

    def receive_eof(self) -> None:
        """Tell the core the server closed the transport (see :meth:`Protocol.receive_eof`)."""
        if self._rejection is not None:
            # An error response without Content-Length ends when the connection closes.
            self.receive_data(b"")
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
        lines = bytes(self._rejection_body).decode(errors="replace").strip().splitlines()
        return lines[0] if lines else self._rejection.reason.decode(errors="replace")

    def _accept_response(self, response: h11.InformationalResponse) -> None:
        """Check the 101 response; §4.4 keeps hybi-03's checks of every header."""
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
