"""Exceptions of the wsdraft core.

Every exception the core raises derives from :class:`ProtocolError`::

    ProtocolError
    ├── LocalProtocolError      we used the core wrongly (a bug on our side)
    ├── InvalidURI              a URL that is not a usable ws:// or wss:// URL
    └── RemoteProtocolError     the peer broke the draft
        ├── InvalidRequest      a bad opening request (server side); carries the HTTP status
        ├── HandshakeRejected   the server answered the opening request with an error status
        ├── InvalidResponse     the server's 101 response is not a valid draft response
        ├── InvalidHello        the first frame was not a correct HELLO
        ├── FramingError        a frame broke the framing rules
        ├── PayloadTooBig       a frame or message is over the configured limit
        └── ConnectionLost      the transport closed before the closing handshake finished

The core never lets a :class:`RemoteProtocolError` escape from ``receive_data`` or
``receive_eof``: it fails the connection and reports the error in the
:class:`~wsdraft.events.Closed` event instead. :class:`LocalProtocolError` is raised to the
caller, because it is the caller's bug.
"""

from __future__ import annotations

from http import HTTPStatus

__all__ = [
    "ConnectionLost",
    "FramingError",
    "HandshakeRejected",
    "InvalidHello",
    "InvalidRequest",
    "InvalidResponse",
    "InvalidURI",
    "LocalProtocolError",
    "PayloadTooBig",
    "ProtocolError",
    "RemoteProtocolError",
]


class ProtocolError(Exception):
    """Root of every exception the core raises."""


class LocalProtocolError(ProtocolError, RuntimeError):
    """We asked the core for something the protocol does not allow in its state."""


class InvalidURI(ProtocolError, ValueError):
    """A URL that cannot be used to connect.

    Attributes:
        uri: the URL as given.
        problem: what is wrong with it.
    """

    def __init__(self, uri: str, problem: str) -> None:
        super().__init__(uri, problem)
        self.uri = uri
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.uri} is not a valid WebSocket URL: {self.problem}"


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol; the connection is failed."""


class InvalidRequest(RemoteProtocolError):
    """The opening request cannot be accepted.

    Attributes:
        status: the HTTP status the server answers with.
        reason: a one-line explanation, sent as the response body.
    """

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.status.value} {self.status.phrase}: {self.reason}"


class HandshakeRejected(RemoteProtocolError):
    """The server answered the opening request with something other than 101.

    Attributes:
        status: the HTTP status code the server sent.
        reason: the server's explanation: the first line of the body, or the reason phrase.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        return f"server rejected the handshake with {self.status}: {self.reason}"


class InvalidResponse(RemoteProtocolError):
    """The server's 101 response does not follow the draft."""


class InvalidHello(RemoteProtocolError):
    """The peer's first frame was not a correct HELLO."""


class FramingError(RemoteProtocolError):
    """A frame broke the framing rules (reserved bits, opcodes, fragmentation, UTF-8)."""


class PayloadTooBig(RemoteProtocolError):
    """A frame or a message is larger than the configured limit.

    Attributes:
        what: ``"frame"`` or ``"message"``.
        size: the size announced or reached, in bytes.
        limit: the configured limit, in bytes.
    """

    def __init__(self, what: str, size: int, limit: int) -> None:
        super().__init__(what, size, limit)
        self.what = what
        self.size = size
        self.limit = limit

    def __str__(self) -> str:
        return f"{self.what} of {self.size} bytes exceeds the limit of {self.limit} bytes"


class ConnectionLost(RemoteProtocolError):
    """The transport closed before the closing handshake finished."""
