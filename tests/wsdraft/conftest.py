"""Fixtures shared by the tests of the wsdraft core (guide G13).

The helpers are handed out as fixtures instead of being imported, so this directory needs no
``__init__.py`` and no helper module name can clash with another test directory's. Session
scoped fixtures hand out plain functions and classes, which Hypothesis tests may use too.

- :func:`feed_all_ways` runs one scenario with its input fed whole, one byte at a time, split
  at every position (or at a sample of positions for long inputs) and cut at random places,
  and checks that every run produces the same events, output and final state.
- :class:`ProtocolPair` connects a client and a server in memory: the output of one side is
  the input of the other, and ``SEND_EOF`` becomes ``receive_eof()`` on the other side.
- :func:`open_protocol` builds a client or a server that has completed the draft's example
  handshake, with its output drained.

Nonces are pinned to the draft's test vectors, so every handshake is byte for byte the one of
spec §4.10.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.wsdraft.vectors import (
    CLIENT_HELLO,
    CLIENT_NONCE,
    REQUEST,
    RESPONSE,
    SERVER_HELLO,
    SERVER_NONCE,
)
from wsdraft import (
    SEND_EOF,
    ClientProtocol,
    Closed,
    Event,
    Limits,
    Opened,
    Protocol,
    RemoteProtocolError,
    Request,
    ServerProtocol,
    State,
)

# Inputs up to this size are split at every position; longer ones at a sample of positions.
_SPLIT_EVERYWHERE_UP_TO = 300
_SAMPLED_SPLITS = 40
_RANDOM_CUTS = 8


def describe(event: Event, *, exact: bool = True) -> object:
    """Return a comparable picture of an event; exceptions compare by type and text.

    With ``exact=False`` an error compares by type only.
    """
    if isinstance(event, Closed):
        if event.error is None:
            error: object = None
        elif exact:
            error = (type(event.error), str(event.error))
        else:
            error = type(event.error)
        return (Closed, event.body, error)
    return event


@dataclass
class Run:
    """What one run of a scenario produced, after the protocol's initial output."""

    protocol: Protocol
    events: list[Event]
    output: list[bytes]

    @property
    def state(self) -> State:
        return self.protocol.state

    def picture(self, *, exact: bool = True) -> tuple[object, ...]:
        return ([describe(event, exact=exact) for event in self.events], self.output, self.state)

    def assert_failed(
        self, error_type: type[RemoteProtocolError], message: str, *, sent: list[bytes]
    ) -> None:
        """Check the connection failed with exactly this error, after sending ``sent``."""
        assert self.events, "no events"
        closed = self.events[-1]
        assert isinstance(closed, Closed)
        assert type(closed.error) is error_type
        assert str(closed.error) == message
        assert not closed.clean
        assert self.protocol.error is closed.error
        assert self.output == [*sent, SEND_EOF]
        assert self.state is State.CLOSED
        assert self.protocol.close_expected()


React = Callable[[Protocol, Event], None]


def run(
    make: Callable[[], Protocol],
    chunks: list[bytes],
    *,
    eof: bool = False,
    react: React | None = None,
) -> Run:
    """Build a protocol, feed it ``chunks`` (then EOF), and record what came out.

    ``react(protocol, event)`` is called for every event, like an application would, for
    example to accept a request; what it causes is recorded as well.
    """
    protocol = make()
    protocol.data_to_send()
    result = Run(protocol, [], [])

    def collect() -> None:
        while True:
            result.output.extend(protocol.data_to_send())
            new = protocol.events_received()
            if not new:
                return
            result.events.extend(new)
            if react is not None:
                for event in new:
                    react(protocol, event)

    for chunk in chunks:
        protocol.receive_data(chunk)
        collect()
    if eof:
        protocol.receive_eof()
        collect()
    return result


def _ways_to_split(data: bytes, rng: random.Random) -> Iterator[tuple[str, list[bytes]]]:
    size = len(data)
    yield "one byte at a time", [data[i : i + 1] for i in range(size)]
    if size > _SPLIT_EVERYWHERE_UP_TO:
        points: list[int] = sorted(rng.sample(range(1, size), _SAMPLED_SPLITS))
    else:
        points = list(range(1, size))
    for point in points:
        yield f"split at {point}", [data[:point], data[point:]]
    for _ in range(_RANDOM_CUTS if size > 2 else 0):
        cuts = sorted(rng.sample(range(1, size), min(size - 1, rng.randint(2, 12))))
        bounds = [0, *cuts, size]
        yield f"cut at {cuts}", [data[a:b] for a, b in itertools.pairwise(bounds)]


def feed_all_ways(
    make: Callable[[], Protocol],
    data: bytes,
    *,
    eof: bool = False,
    react: React | None = None,
    seed: int = 0,
    exact_errors: bool = True,
) -> Run:
    """Run the scenario with ``data`` whole and split in many ways; return the whole run.

    Every way of splitting must give the same events, output and final state. With
    ``exact_errors=False`` the error of a Closed event must only have the same type: use it
    where the message quotes the bytes received so far.
    """
    whole = run(make, [data], eof=eof, react=react)
    expected = whole.picture(exact=exact_errors)
    for how, chunks in _ways_to_split(data, random.Random(seed)):
        picture = run(make, chunks, eof=eof, react=react).picture(exact=exact_errors)
        assert picture == expected, how
    return whole


class ProtocolPair:
    """A client and a server connected in memory.

    Args:
        limits: the limits of both sides, unless ``client_limits`` or ``server_limits``
            says otherwise for one side.
        subprotocol: what the client asks for.
        origins: the origins the server accepts.
    """

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        client_limits: Limits | None = None,
        server_limits: Limits | None = None,
        subprotocol: str | None = None,
        origins: list[str] | None = None,
    ) -> None:
        self.client = ClientProtocol(
            "ws://example.com/demo",
            origin="http://example.com",
            subprotocol=subprotocol,
            nonce=CLIENT_NONCE,
            limits=client_limits or limits,
        )
        self.server = ServerProtocol(
            origins=origins, nonce=SERVER_NONCE, limits=server_limits or limits
        )
        #: Everything each side wrote, in order, SEND_EOF included; after :meth:`open`, what
        #: each side wrote since the handshake, which moves to ``handshake_sent``.
        self.sent: dict[Protocol, list[bytes]] = {self.client: [], self.server: []}
        self.handshake_sent: dict[Protocol, list[bytes]] = {}
        self._events: dict[Protocol, list[Event]] = {self.client: [], self.server: []}
        #: The sides that closed their transport.
        self.closed_transport: set[Protocol] = set()

    def peer(self, protocol: Protocol) -> Protocol:
        return self.server if protocol is self.client else self.client

    def transfer(self, sender: Protocol) -> bool:
        """Deliver what ``sender`` has to send; return True if anything moved."""
        receiver = self.peer(sender)
        moved = False
        for chunk in sender.data_to_send():
            self.sent[sender].append(chunk)
            moved = True
            if sender in self.closed_transport or receiver in self.closed_transport:
                continue  # A closed transport carries nothing.
            if chunk == SEND_EOF:
                self.closed_transport.add(sender)
                receiver.receive_eof()
            else:
                receiver.receive_data(chunk)
        return moved

    def pump(self) -> None:
        """Move data both ways until neither side has anything to send."""
        while True:
            moved = self.transfer(self.client)
            moved = self.transfer(self.server) or moved
            for protocol in (self.client, self.server):
                self._events[protocol].extend(protocol.events_received())
            if not moved:
                return

    def events(self, protocol: Protocol) -> list[Event]:
        """Return the events ``protocol`` received since the last call."""
        self.pump()
        events, self._events[protocol] = self._events[protocol], []
        return events

    def open(self, subprotocol: str | None = None) -> ProtocolPair:
        """Run the opening handshake, accepting with ``subprotocol``."""
        self.pump()
        [request] = self.events(self.server)
        assert isinstance(request, Request)
        self.server.accept(subprotocol)
        self.pump()
        assert self.events(self.server) == [Opened(subprotocol=subprotocol)]
        assert self.events(self.client) == [Opened(subprotocol=subprotocol)]
        assert self.client.state is State.OPEN
        assert self.server.state is State.OPEN
        self.handshake_sent = self.sent
        self.sent = {self.client: [], self.server: []}
        return self


def open_protocol(side: str, limits: Limits | None = None) -> Protocol:
    """Return a client or a server after the example handshake, with its output drained."""
    protocol: Protocol
    if side == "client":
        protocol = ClientProtocol(
            "ws://example.com/demo",
            origin="http://example.com",
            subprotocol="sample",
            nonce=CLIENT_NONCE,
            limits=limits,
        )
        protocol.receive_data(RESPONSE + SERVER_HELLO)
    else:
        protocol = server = ServerProtocol(nonce=SERVER_NONCE, limits=limits)
        server.receive_data(REQUEST)
        server.accept("sample")
        server.receive_data(CLIENT_HELLO)
    assert protocol.state is State.OPEN
    assert protocol.events_received()[-1] == Opened(subprotocol="sample")
    protocol.data_to_send()
    return protocol


@pytest.fixture(scope="session", name="feed_all_ways")
def feed_all_ways_fixture() -> Callable[..., Run]:
    return feed_all_ways


@pytest.fixture(scope="session", name="run")
def run_fixture() -> Callable[..., Run]:
    return run


@pytest.fixture(scope="session", name="make_pair")
def make_pair_fixture() -> type[ProtocolPair]:
    return ProtocolPair


@pytest.fixture
def pair() -> ProtocolPair:
    """A client and a server that completed the opening handshake."""
    return ProtocolPair().open()


@pytest.fixture(scope="session", name="open_protocol")
def open_protocol_fixture() -> Callable[..., Protocol]:
    return open_protocol
