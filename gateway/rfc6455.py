"""RFC 6455, as the gateway serves it to browsers: websockets' sans-I/O server, adapted.

:class:`RFC6455Wire` wraps :class:`websockets.server.ServerProtocol` and presents it as the
connection layer drives every wire protocol (:class:`gateway.wire.Wire`): wsdraft's events
and states. websockets validates the handshake, parses and masks frames, answers pings and
Closes and enforces the size limits; this adapter reassembles fragmented messages, checks
their UTF-8 and asks the application before answering the handshake.

permessage-deflate is not offered: it would cost each connection a compression context and
keep the gateway from framing a broadcast once for all (docs/PROTOCOL.md).
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus

from websockets.exceptions import PayloadTooBig
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request as HTTPRequest
from websockets.http11 import Response
from websockets.protocol import State as WSState
from websockets.server import ServerProtocol
from websockets.typing import BytesLike

from wsdraft import (
    BinaryMessage,
    Closed,
    ConnectionLost,
    Event,
    FramingError,
    InvalidRequest,
    Limits,
    LocalProtocolError,
    Opened,
    Ping,
    Pong,
    RemoteProtocolError,
    Request,
    State,
    TextMessage,
)
from wsdraft import PayloadTooBig as MessageTooBig

__all__ = ["RFC6455Framing", "RFC6455Wire"]

#: websockets logs every connection at INFO: only its warnings reach the gateway's log.
logger = logging.getLogger("wslab.gateway.rfc6455")

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")
# The longest close reason that fits a control frame with its 2-byte code.
_MAX_REASON = 123


#: wsdraft's state for each of websockets' once the handshake is done.
_STATES = {WSState.OPEN: State.OPEN, WSState.CLOSING: State.CLOSING, WSState.CLOSED: State.CLOSED}


# Hashed by identity (RFC6455Wire.framing is the one instance), as DraftFraming.
@dataclass(frozen=True, eq=False)
class RFC6455Framing:
    """Frames a message unmasked and unfragmented, as a server sends it."""

    def __call__(self, text: bool, payload: bytes) -> tuple[bytes, ...]:
        frame = Frame(Opcode.TEXT if text else Opcode.BINARY, payload)
        return (frame.serialize(mask=False),)


def _reason(text: str) -> str:
    """``text`` cut to fit a Close frame, on a character boundary."""
    return text.encode()[:_MAX_REASON].decode(errors="ignore")


class RFC6455Wire:
    """One RFC 6455 server connection, driven like :class:`wsdraft.ServerProtocol`.

    Args:
        secure: True if the transport is TLS.
        limits: the sizes enforced (``max_message_size``, ``max_frame_size``).
    """

    framing = RFC6455Framing()

    def __init__(
        self,
        *,
        secure: bool = False,
        limits: Limits | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.secure = secure
        self._ws = ServerProtocol(
            max_size=(self.limits.max_message_size, self.limits.max_frame_size),
            logger=logger,
        )
        # The 101 to send if the application accepts, from the request until then.
        self._response: Response | None = None
        self._requested = False
        self._events: list[Event] = []
        self._opened = False
        self._closed = False
        # The message being reassembled: its opcode, and its pieces so far.
        self._opcode: Opcode | None = None
        self._fragments: list[bytes] = []
        self._text: list[str] = []
        self._decoder = _Utf8Decoder()

    @property
    def state(self) -> State:
        """Where the connection is in its life, in wsdraft's terms."""
        # Asked for each message sent to the connection: a lookup, not a match.
        if self._closed:
            return State.CLOSED
        if self._ws.state is WSState.CONNECTING:
            return State.ACCEPTING if self._requested else State.CONNECTING
        return _STATES[self._ws.state]

    # Input from the network.

    def receive_data(self, data: bytes) -> None:
        """Take bytes received from the client."""
        if self._closed:
            return
        self._ws.receive_data(data)
        self._receive_events()

    def receive_eof(self) -> None:
        """The client closed the transport."""
        if self._closed:
            return
        self._ws.receive_eof()
        self._receive_events()

    def _receive_events(self) -> None:
        for event in self._ws.events_received():
            if self._closed:
                break  # A message failed: what followed it is not read.
            if isinstance(event, HTTPRequest):
                self._receive_request(event)
            elif isinstance(event, Frame):
                self._receive_frame(event)
        exc = self._ws.parser_exc
        if exc is not None and not self._closed:
            self._end(self._error(exc))

    def _error(self, exc: Exception) -> RemoteProtocolError:
        """wsdraft's kind of error for why websockets stopped parsing."""
        if isinstance(exc, PayloadTooBig):
            size = (exc.current_size or 0) + (exc.size or 0)
            return MessageTooBig("message", size, exc.max_size)
        if isinstance(exc, EOFError):
            where = "without a closing handshake"
            if not self._opened:
                where = "during the opening handshake"
            return ConnectionLost(f"the connection closed {where}")
        return FramingError(str(exc))

    def _receive_request(self, request: HTTPRequest) -> None:
        # websockets checks the request as it builds the 101; it is sent if the app accepts.
        response = self._ws.accept(request)
        if response.status_code != 101:
            exc = self._ws.handshake_exc
            reason = _handshake_problem(exc)
            status = HTTPStatus(response.status_code)
            self._ws.send_response(self._ws.reject(status, reason + "\n"))
            self._end(InvalidRequest(status, reason))
            return
        self._response = response
        self._requested = True
        headers = request.headers
        self._events.append(
            Request(
                resource=request.path,
                host=headers.get("Host", ""),
                origin=headers.get("Origin", ""),
                subprotocol=None,
                headers=tuple((name.lower(), value) for name, value in headers.raw_items()),
            )
        )

    def _receive_frame(self, frame: Frame) -> None:
        match frame.opcode:
            case Opcode.TEXT | Opcode.BINARY:
                self._opcode = frame.opcode
                self._receive_fragment(frame.data, frame.fin)
            case Opcode.CONT:
                self._receive_fragment(frame.data, frame.fin)
            case Opcode.PING:
                self._events.append(Ping(bytes(frame.data)))  # websockets answered it.
            case Opcode.PONG:
                self._events.append(Pong(bytes(frame.data)))
            case Opcode.CLOSE:
                close = self._ws.close_rcvd
                body = b"" if close is None else close.reason.encode()
                self._end(None, body)

    def _receive_fragment(self, data: BytesLike, fin: bool) -> None:
        if self._opcode is Opcode.BINARY:
            self._fragments.append(bytes(data))
        else:
            try:
                self._text.append(self._decoder.decode(data, final=fin))
            except UnicodeDecodeError:
                self._decoder.reset()
                self._ws.fail(CloseCode.INVALID_DATA, "invalid UTF-8 in a text message")
                self._end(FramingError("invalid UTF-8 in a text message"))
                return
        if not fin:
            return
        if self._opcode is Opcode.BINARY:
            self._events.append(BinaryMessage(b"".join(self._fragments)))
        else:
            self._events.append(TextMessage("".join(self._text)))
        self._opcode, self._fragments, self._text = None, [], []

    def _end(self, error: RemoteProtocolError | None, body: bytes = b"") -> None:
        self._closed = True
        self._events.append(Closed(body=body, error=error))

    # Output.

    def events_received(self) -> list[Event]:
        """The events since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def data_to_send(self) -> list[bytes]:
        """The bytes to write since the last call; ``b""`` means: close the transport."""
        return self._ws.data_to_send()

    # Actions of the application.

    def accept(self, subprotocol: str | None = None) -> None:
        """Send the 101: the connection is open."""
        if self._response is None or self.state is not State.ACCEPTING:
            msg = f"cannot accept in state {self.state.name}"
            raise LocalProtocolError(msg)
        if subprotocol is not None:
            msg = f"the client did not ask for subprotocol {subprotocol!r}"
            raise LocalProtocolError(msg)
        self._ws.send_response(self._response)
        self._response = None
        self._opened = True
        self._events.append(Opened(subprotocol=None))

    def reject(
        self, status: HTTPStatus | int, reason: str, headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        """Answer the request with an HTTP error and close."""
        if self.state is not State.ACCEPTING:
            msg = f"cannot reject in state {self.state.name}"
            raise LocalProtocolError(msg)
        status = HTTPStatus(status)
        response = self._ws.reject(status, (reason.splitlines()[0] if reason else "") + "\n")
        for name, value in headers:
            response.headers[name] = value
        self._ws.send_response(response)
        self._end(InvalidRequest(status, reason))

    def send_text(self, text: str) -> None:
        """Queue a text message."""
        self._require_open()
        self._ws.send_text(text.encode())

    def send_binary(self, data: bytes) -> None:
        """Queue a binary message."""
        self._require_open()
        self._ws.send_binary(data)

    def send_ping(self, data: bytes = b"") -> None:
        """Queue a ping."""
        self._require_open()
        self._ws.send_ping(data)

    def close(self, reason: str, code: int = CloseCode.NORMAL_CLOSURE) -> None:
        """Start the closing handshake with ``code`` and ``reason``, if open."""
        if self.state is State.OPEN:
            self._ws.send_close(code, _reason(reason))

    def _require_open(self) -> None:
        if self.state is not State.OPEN:
            msg = f"cannot send a message in state {self.state.name}"
            raise LocalProtocolError(msg)


def _handshake_problem(exc: Exception | None) -> str:
    return str(exc) if exc is not None else "invalid WebSocket handshake"
