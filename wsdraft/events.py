"""Events: what the core reports to the I/O layer from ``events_received()``.

They are immutable value objects. Both sides use the same types, except :class:`Request`,
which only a server receives.
"""

from __future__ import annotations

from dataclasses import dataclass

from .exceptions import RemoteProtocolError

__all__ = [
    "BinaryMessage",
    "Closed",
    "Event",
    "Opened",
    "Ping",
    "Pong",
    "Request",
    "TextMessage",
]


@dataclass(frozen=True, kw_only=True)
class Request:
    """A valid opening request arrived (server side).

    The server must now call :meth:`~wsdraft.ServerProtocol.accept` or
    :meth:`~wsdraft.ServerProtocol.reject`.

    Attributes:
        resource: the request target, for example ``/chat?room=a``.
        host: the Host header.
        origin: the Origin header.
        subprotocol: the subprotocol the client asked for, if any.
        headers: every header, names lower-cased, in the order received.
    """

    resource: str
    host: str
    origin: str
    subprotocol: str | None
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True, kw_only=True)
class Opened:
    """Both HELLOs were exchanged and verified: messages may flow.

    Attributes:
        subprotocol: the subprotocol the server selected, if any.
    """

    subprotocol: str | None


@dataclass(frozen=True)
class TextMessage:
    """A complete text message, reassembled and decoded from UTF-8."""

    data: str


@dataclass(frozen=True)
class BinaryMessage:
    """A complete binary message, reassembled."""

    data: bytes


@dataclass(frozen=True)
class Ping:
    """The peer sent a ping; the core has already queued the pong."""

    data: bytes


@dataclass(frozen=True)
class Pong:
    """The peer sent a pong."""

    data: bytes


@dataclass(frozen=True, kw_only=True)
class Closed:
    """The connection is over; this is always the last event.

    Attributes:
        body: the body of the peer's Close frame (empty if none came).
        error: why the connection failed, or None after a clean closing handshake.
    """

    body: bytes = b""
    error: RemoteProtocolError | None = None

    @property
    def clean(self) -> bool:
        """True when both Close frames were exchanged and nothing went wrong."""
        return self.error is None


Event = Request | Opened | TextMessage | BinaryMessage | Ping | Pong | Closed
"""Everything :meth:`~wsdraft.protocol.Protocol.events_received` may return."""
