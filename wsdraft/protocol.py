"""The part of a connection both sides share: framing, messages, ping and close.

The core does no I/O. The I/O layer drives it with one loop::

    protocol.receive_data(data)          # or receive_eof() when the transport closes
    for chunk in protocol.data_to_send():
        transport.write(chunk) if chunk else transport.close()   # b"" means: close it
    for event in protocol.events_received():
        handle(event)

and flushes ``data_to_send()`` after every call, since the core answers pings, echoes
Closes and fails connections by itself.
"""

from __future__ import annotations

import codecs
import logging
from typing import ClassVar

from .events import (
    BinaryMessage,
    Closed,
    Event,
    Ping,
    Pong,
    TextMessage,
)
from .exceptions import (
    ConnectionLost,
    FramingError,
    InvalidHello,
    LocalProtocolError,
    PayloadTooBig,
    RemoteProtocolError,
)
from .frames import (
    MAX_CONTROL_PAYLOAD,
    BytesLike,
    Frame,
    FrameReader,
    Opcode,
    PreparedMessage,
    close_body,
    encode_frame,
    encode_message,
)
from .limits import Limits
from .state import State, Trigger, next_state

__all__ = ["SEND_EOF", "Protocol"]

SEND_EOF = b""
"""What ``data_to_send()`` yields when the I/O layer must close the transport."""

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")


class Protocol:
    """What client and server connections share; use :class:`~wsdraft.ClientProtocol` or
    :class:`~wsdraft.ServerProtocol`.

    Args:
        limits: sizes and timeouts; the defaults of :class:`~wsdraft.Limits` if None.
        logger: where to log; ``wsdraft.client`` or ``wsdraft.server`` if None.
    """

    #: True for the side that closes TCP once both Close frames were exchanged: the server.
    closes_transport_first: ClassVar[bool]
    #: The HELLO frame this side expects from the peer: its first two bytes and its size.
    _peer_hello: ClassVar[tuple[bytes, int]]

    def __init__(self, *, limits: Limits | None, logger: logging.Logger) -> None:
        self.limits = limits or Limits()
        self.logger = logger
        self.debug = logger.isEnabledFor(logging.DEBUG)
        #: Why the connection failed, once it has; also reported by :class:`Closed`.
        self.error: RemoteProtocolError | None = None
        #: The subprotocol in use, once the handshake chose one.
        self.subprotocol: str | None = None
        self._state = State.CONNECTING
        self._reader = FrameReader(self.limits.max_frame_size)
        self._events: list[Event] = []
        self._output: list[bytes] = []
        # The body of the Close frame the peer sent, once it has.
        self._close_rcvd = b""
        # The message being reassembled: set by its first fragment, cleared by its last.
        # A text message is decoded fragment by fragment, so bad UTF-8 fails early.
        self._message_opcode: Opcode | None = None
        self._message_size = 0
        self._fragments: list[bytes] = []
        self._text: list[str] = []
        self._decoder = _Utf8Decoder()

    @property
    def state(self) -> State:
        """Where the connection is in its life."""
        return self._state

    def _move(self, trigger: Trigger) -> None:
        self._state = next_state(self._state, trigger)
        if self.debug:
            self.logger.debug("= %s: connection is %s", trigger.value, self._state.name)
        if self._state is State.CLOSED:
            if self.closes_transport_first or self.error is not None:
                self._output.append(SEND_EOF)
            self._events.append(Closed(body=self._close_rcvd, error=self.error))

    # Input from the network.

    def receive_data(self, data: bytes) -> None:
        """Take bytes received from the peer.

        Garbage from the peer never raises: the connection fails, the answer to send (an
        HTTP error, a Close or nothing) is queued, and a :class:`~wsdraft.events.Closed`
        event reports the error.

        Empty ``data`` is ignored: the end of the stream is :meth:`receive_eof`.

        After calling this method you must send ``data_to_send()`` and should handle
        ``events_received()``.
        """
        if self._state is State.CLOSED or not data:
            return  # Nothing the peer says matters any more, or nothing arrived.
        try:
            if self._state in (State.CONNECTING, State.ACCEPTING):
                self._receive_http(data)
            else:
                self._reader.feed(data)
            self._receive_frames()
        except RemoteProtocolError as exc:
            self._fail(exc)

    def receive_eof(self) -> None:
        """Tell the core the peer closed the transport.

        After calling this method you must send ``data_to_send()`` and should handle
        ``events_received()``.
        """
        if self._state is State.CLOSED:
            return
        if self._state in (State.CONNECTING, State.ACCEPTING, State.HELLO):
            where = "during the opening handshake"
        else:
            where = "without a closing handshake"
        self.error = ConnectionLost(f"the connection closed {where}")
        self._move(Trigger.EOF)

    def _receive_http(self, data: bytes) -> None:
        raise NotImplementedError

    def _receive_frames(self) -> None:
        while True:
            if self._state is State.HELLO:
                if not self._receive_hello():
                    return
            elif self._state in (State.OPEN, State.CLOSING):
                frame = self._reader.read_frame()
                if frame is None:
                    return
                self._receive_frame(frame)
            else:
                return

    def _receive_hello(self) -> bool:
        """Check the peer's HELLO if it has arrived; return False if more bytes are needed."""
        raise NotImplementedError

    def _read_hello(self) -> bytes | None:
        """Return the payload of the peer's HELLO, or None if it has not fully arrived.

        A wrong first byte fails at once, before the whole frame arrives.
        """
        head, size = self._peer_hello
        received = self._reader.peek(2)
        if received != head[: len(received)]:
            # §4.4/4.5: "fail if byte0 != 0x8F or byte1 != the HELLO length".
            msg = f"expected a HELLO frame starting {head.hex(' ')}, got {received.hex(' ')}"
            raise InvalidHello(msg)
        data = self._reader.read_exact(size)
        return None if data is None else data[2:]

    def _receive_frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if self._message_opcode is not None:
                raise FramingError("new message started before the previous one ended")
            if frame.fin:
                self._receive_message(opcode, frame.payload)
            else:
                self._message_opcode = opcode
                self._receive_fragment(frame.payload)
        elif opcode is Opcode.CONTINUATION:
            if self._message_opcode is None:
                raise FramingError("continuation frame without a message to continue")
            self._receive_fragment(frame.payload)
            if frame.fin:
                self._finish_message()
        else:
            self._receive_control(frame)

    def _receive_message(self, opcode: Opcode, payload: bytes) -> None:
        if len(payload) > self.limits.max_message_size:
            raise PayloadTooBig("message", len(payload), self.limits.max_message_size)
        if opcode is Opcode.BINARY:
            self._events.append(BinaryMessage(payload))
            return
        try:
            self._events.append(TextMessage(payload.decode()))
        except UnicodeDecodeError:
            raise FramingError("invalid UTF-8 in a text message") from None

    def _receive_fragment(self, payload: bytes) -> None:
        self._message_size += len(payload)
        if self._message_size > self.limits.max_message_size:
            raise PayloadTooBig("message", self._message_size, self.limits.max_message_size)
        if self._message_opcode is Opcode.BINARY:
            self._fragments.append(payload)
            return
        try:
            self._text.append(self._decoder.decode(payload))
        except UnicodeDecodeError:
            raise FramingError("invalid UTF-8 in a text message") from None

    def _finish_message(self) -> None:
        if self._message_opcode is Opcode.BINARY:
            self._events.append(BinaryMessage(b"".join(self._fragments)))
        else:
            try:
                end = self._decoder.decode(b"", final=True)  # a sequence cut off at the end
            except UnicodeDecodeError:
                raise FramingError("invalid UTF-8 in a text message") from None
            self._events.append(TextMessage("".join(self._text) + end))
            self._decoder.reset()
        self._message_opcode = None
        self._message_size = 0
        self._fragments, self._text = [], []

    def _receive_control(self, frame: Frame) -> None:
        # [I] Control frames may come between the fragments of a message, but are never
        # fragmented themselves.
        if not frame.fin:
            raise FramingError(f"fragmented {frame.opcode.name} frame")
        if len(frame.payload) > MAX_CONTROL_PAYLOAD:
            raise FramingError(f"{frame.opcode.name} frame longer than 125 bytes")
        opcode = frame.opcode
        if opcode is Opcode.PING:
            # §4.7: "reply 83 <len> data with the same data". No pong once we sent a Close.
            if self._state is State.OPEN:
                self._output.append(encode_frame(Opcode.PONG, frame.payload))
            self._events.append(Ping(frame.payload))
        elif opcode is Opcode.PONG:
            self._events.append(Pong(frame.payload))
        elif opcode is Opcode.CLOSE:
            # §4.8: "a receiver that has not yet sent a Close replies with a Close carrying
            # the same body", then sends nothing more.
            self._close_rcvd = frame.payload
            if self._state is State.OPEN:
                self._output.append(encode_frame(Opcode.CLOSE, frame.payload))
            self._move(Trigger.CLOSE_RECEIVED)
        else:
            raise FramingError("HELLO frame after the opening handshake")

    def _fail(self, exc: RemoteProtocolError) -> None:
        self.error = exc
        if self.debug:
            self.logger.debug("! failing the connection: %s", exc)
        self._send_failure(exc)
        self._move(Trigger.FAIL)

    def _send_failure(self, exc: RemoteProtocolError) -> None:
        """Queue what tells the peer why we fail. [I] A Close whose body is the reason,
        once the connection is open; before that the draft says to just close TCP."""
        if self._state is State.OPEN:
            self._output.append(encode_frame(Opcode.CLOSE, close_body(str(exc))))

    # Output to the network and to the application.

    def events_received(self) -> list[Event]:
        """Return the events decoded since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def data_to_send(self) -> list[bytes]:
        """Return the bytes to write since the last call, in order.

        An empty bytes object (:data:`SEND_EOF`) means: close the transport after writing
        what comes before it.
        """
        output, self._output = self._output, []
        return output

    def close_expected(self) -> bool:
        """Tell whether the transport should close soon.

        When True, the I/O layer should close it itself if the peer has not done so within
        ``limits.close_timeout``.
        """
        return self._state in (State.CLOSING, State.CLOSED)

    # Actions of the application.

    def send_text(self, text: str) -> None:
        """Queue a text message; call ``data_to_send()`` next.

        Raises:
            LocalProtocolError: the connection is not open.
        """
        self._send_message(Opcode.TEXT, text.encode())

    def send_binary(self, data: BytesLike) -> None:
        """Queue a binary message; call ``data_to_send()`` next.

        Raises:
            LocalProtocolError: the connection is not open.
        """
        self._send_message(Opcode.BINARY, data)

    def send_prepared(self, message: PreparedMessage) -> None:
        """Queue a message framed in advance; call ``data_to_send()`` next.

        Raises:
            LocalProtocolError: the connection is not open.
        """
        self._require_open("send a message")
        self._output += message.frames

    def _send_message(self, opcode: Opcode, payload: BytesLike) -> None:
        self._require_open("send a message")
        self._output += encode_message(opcode, payload, self.limits.fragment_size)

    def send_ping(self, data: BytesLike = b"") -> None:
        """Queue a ping carrying ``data`` (at most 125 bytes); call ``data_to_send()`` next.

        Raises:
            LocalProtocolError: the connection is not open, or ``data`` is too long.
        """
        self._send_control(Opcode.PING, bytes(data), "send a ping")

    def send_close(self, body: BytesLike = b"") -> None:
        """Start the closing handshake; call ``data_to_send()`` next.

        The peer echoes ``body``; :class:`~wsdraft.events.Closed` follows when it does.

        Raises:
            LocalProtocolError: the connection is not open, or ``body`` is too long.
        """
        self._send_control(Opcode.CLOSE, bytes(body), "close")
        self._move(Trigger.CLOSE_SENT)

    def _send_control(self, opcode: Opcode, payload: bytes, action: str) -> None:
        self._require_open(action)
        if len(payload) > MAX_CONTROL_PAYLOAD:
            msg = f"cannot {action} with more than {MAX_CONTROL_PAYLOAD} bytes"
            raise LocalProtocolError(msg)
        self._output.append(encode_frame(opcode, payload))

    def _require_open(self, action: str) -> None:
        if self._state is not State.OPEN:
            msg = f"cannot {action} in state {self._state.name}"
            raise LocalProtocolError(msg)
