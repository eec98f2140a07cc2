"""The wire protocols the gateway speaks, in one registry, and the choice between them.

Every WebSocket request comes in on the same port and paths; its headers say which protocol
the client speaks, like faye's websocket-driver or Jetty 7/8 chose between drafts:

- ``Sec-WebSocket-Version: 13``: RFC 6455, what browsers and standard tools speak;
- ``Sec-WebSocket-Draft``: the 2010 GET+Upgrade+HELLO draft;
- neither, or another version: ``426 Upgrade Required`` with ``Sec-WebSocket-Version: 13``
  and a line naming both (RFC 6455 §4.4).

Each protocol is a sans-I/O core behind the same interface, :class:`Wire`, so the
connection layer (gateway.connection) drives them all alike; see docs/PROTOCOL.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Protocol

from websockets.server import ServerProtocol as _ResponseBuilder

from wsdraft import SEND_EOF, Closed, Event, InvalidRequest, Limits, State

from .draft import DraftWire
from .outbox import Framing
from .rfc6455 import RFC6455Wire

__all__ = ["UPGRADE_REQUIRED", "WIRES", "UpgradeRequired", "Wire", "WireFactory", "choose"]

#: The registry's name for requests in no protocol the gateway speaks.
UPGRADE_REQUIRED = "none"
#: What a client that speaks neither protocol is told.
NEITHER = (
    "this endpoint speaks WebSocket as RFC 6455 (Sec-WebSocket-Version: 13) or as"
    " draft-montenegro-hybi-upgrade-hello-handshake-00 (Sec-WebSocket-Draft: 3)"
)


class Wire(Protocol):
    """A server connection's sans-I/O core, as :class:`gateway.connection.Connection` drives it.

    It takes bytes and EOF, returns bytes to write (``b""``: close the transport) and
    wsdraft's events, and moves through wsdraft's states; :class:`wsdraft.ServerProtocol`
    is the model.
    """

    limits: Limits
    secure: bool

    @property
    def framing(self) -> Framing:
        """How this protocol frames a message to send to many connections."""
        ...

    @property
    def state(self) -> State: ...

    def receive_data(self, data: bytes) -> None: ...

    def receive_eof(self) -> None: ...

    def data_to_send(self) -> list[bytes]: ...

    def events_received(self) -> list[Event]: ...

    def accept(self, subprotocol: str | None = None) -> None: ...

    def reject(
        self, status: HTTPStatus | int, reason: str, headers: Sequence[tuple[str, str]] = ()
    ) -> None: ...

    def send_text(self, text: str) -> None: ...

    def send_binary(self, data: bytes) -> None: ...

    def send_ping(self, data: bytes = b"") -> None: ...

    def close(self, reason: str, code: int = 1000) -> None:
        """Start the closing handshake, if the connection is open."""
        ...


class WireFactory(Protocol):
    """How the connection layer makes a :class:`Wire`."""

    def __call__(self, *, secure: bool, limits: Limits) -> Wire: ...


class UpgradeRequired:
    """Answers any request with ``426 Upgrade Required``, naming the protocols spoken."""

    framing = RFC6455Wire.framing

    def __init__(self, *, secure: bool = False, limits: Limits) -> None:
        self.limits = limits
        self.secure = secure
        self._output: list[bytes] = []
        self._events: list[Event] = []
        self._state = State.CONNECTING

    @property
    def state(self) -> State:
        return self._state

    def receive_data(self, data: bytes) -> None:
        if self._state is State.CLOSED:
            return
        status = HTTPStatus.UPGRADE_REQUIRED
        response = _ResponseBuilder().reject(status, NEITHER + "\n")
        response.headers["Sec-WebSocket-Version"] = "13"
        self._output += [response.serialize(), SEND_EOF]
        self._events.append(Closed(error=InvalidRequest(status, NEITHER)))
        self._state = State.CLOSED

    def receive_eof(self) -> None:
        self._state = State.CLOSED

    def data_to_send(self) -> list[bytes]:
        output, self._output = self._output, []
        return output

    def events_received(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def accept(self, subprotocol: str | None = None) -> None:
        raise AssertionError("a request in no protocol never reaches the application")

    def reject(
        self, status: HTTPStatus | int, reason: str, headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        raise AssertionError("a request in no protocol never reaches the application")

    def send_text(self, text: str) -> None:
        raise AssertionError("a request in no protocol never opens")

    def send_binary(self, data: bytes) -> None:
        raise AssertionError("a request in no protocol never opens")

    def send_ping(self, data: bytes = b"") -> None:
        raise AssertionError("a request in no protocol never opens")

    def close(self, reason: str, code: int = 1000) -> None:
        pass  # Never open.


#: Every wire protocol, by the name the metrics and the ASGI scope give it.
WIRES: dict[str, WireFactory] = {
    "rfc6455": RFC6455Wire,
    "draft": DraftWire,
    UPGRADE_REQUIRED: UpgradeRequired,
}


def choose(head: bytes) -> str:
    """The name in :data:`WIRES` of the protocol an opening request's ``head`` asks for."""
    headers: dict[bytes, bytes] = {}
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon:
            headers.setdefault(name.strip().lower(), value.strip())
    version = headers.get(b"sec-websocket-version")
    if version is not None:
        return "rfc6455" if version == b"13" else UPGRADE_REQUIRED
    if b"sec-websocket-draft" in headers:
        return "draft"
    return UPGRADE_REQUIRED
