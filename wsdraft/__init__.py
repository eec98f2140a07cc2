"""A sans-I/O implementation of draft-montenegro-hybi-upgrade-hello-handshake-00.

The "GET+Upgrade+HELLO" WebSocket draft of December 2010: an HTTP/1.1 upgrade, a HELLO frame
each way carrying MD5 digests of two nonces, then hybi-03 framing with a FIN bit and no
masking. This package does no I/O: feed it bytes, send the bytes it returns, handle its
events. docs/PROTOCOL.md describes the rules as implemented.
"""

from __future__ import annotations

from .client import ClientProtocol
from .events import (
    BinaryMessage,
    Closed,
    Event,
    Opened,
    Ping,
    Pong,
    Request,
    TextMessage,
)
from .exceptions import (
    ConnectionLost,
    FramingError,
    HandshakeRejected,
    InvalidHello,
    InvalidRequest,
    InvalidResponse,
    InvalidURI,
    LocalProtocolError,
    PayloadTooBig,
    ProtocolError,
    RemoteProtocolError,
)
from .frames import Frame, FrameReader, Opcode, PreparedMessage, close_body
from .limits import MAX_PAYLOAD_SIZE, Limits
from .protocol import SEND_EOF, Protocol
from .server import ServerProtocol
from .state import State
from .uri import WebSocketURI, parse_uri

__all__ = [
    "MAX_PAYLOAD_SIZE",
    "SEND_EOF",
    "BinaryMessage",
    "ClientProtocol",
    "Closed",
    "ConnectionLost",
    "Event",
    "Frame",
    "FrameReader",
    "FramingError",
    "HandshakeRejected",
    "InvalidHello",
    "InvalidRequest",
    "InvalidResponse",
    "InvalidURI",
    "Limits",
    "LocalProtocolError",
    "Opcode",
    "Opened",
    "PayloadTooBig",
    "Ping",
    "Pong",
    "PreparedMessage",
    "Protocol",
    "ProtocolError",
    "RemoteProtocolError",
    "Request",
    "ServerProtocol",
    "State",
    "TextMessage",
    "WebSocketURI",
    "close_body",
    "parse_uri",
]
