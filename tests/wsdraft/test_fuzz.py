"""Fuzzing: random and mutated input only ever produces documented outcomes (guide G14).

Valid transcripts are mutated (bytes flipped, cut, inserted, duplicated, deleted, spliced),
and pure random bytes are added. Each input is cut into random chunks and fed to a fresh
server (from the request on), a fresh client (from the response on) and to open
connections. Everything is seeded, so a failure names the seed and the input to replay.

Documented outcomes:

- ``receive_data`` and ``receive_eof`` never raise;
- every event is one of the documented event types, in a possible order;
- ``Closed`` comes at most once, last, with no error or a ``RemoteProtocolError``;
- the state, ``error``, ``close_expected()`` and ``SEND_EOF`` agree with the events;
- once closed, nothing more comes out.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
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
    BinaryMessage,
    ClientProtocol,
    Closed,
    Event,
    LocalProtocolError,
    Opened,
    Ping,
    Pong,
    Protocol,
    RemoteProtocolError,
    Request,
    ServerProtocol,
    State,
    TextMessage,
)
from wsdraft.frames import Frame, Opcode

SEED = 20101215  # The draft's date.

LENIENT_REQUEST = (
    b"GET /chat?room=a HTTP/1.1\r\nHost: host:4502\r\nUpgrade:   WebSocket\r\n"
    b"connection: upgrade\r\nOrigin: http://value:8080/foo/bar\r\n"
    b"Sec-WebSocket-Draft: 3\r\nSec-WebSocket-Nonce: a23f2bca452dde01\r\n\r\n"
)
REJECTION = (
    b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 19\r\nConnection: close\r\n\r\norigin not allowed\n"
)
CLOSE_DELIMITED = b"HTTP/1.1 503 Service Unavailable\r\n\r\nfull, retry later\n"

# A conversation with every kind of frame, as one side would receive it.
FRAMES = b"".join(
    [
        b"\x84\x05Hello",
        b"\x04\x03Hel",
        b"\x82\x05Hello",
        b"\x80\x02lo",
        b"\x83\x00",
        b"\x85\x7e\x01\x00" + bytes(range(256)),
        Frame(Opcode.TEXT, "\u00e9\U0001f600".encode(), fin=False).serialize(),
        Frame(Opcode.CONTINUATION, b"", fin=False).serialize(),
        Frame(Opcode.CONTINUATION, b"!").serialize(),
        b"\x84\x7f\x00\x00\x00\x00\x00\x00\x00\x02hi",
        b"\x81\x03bye",
    ]
)

SERVER_CORPUS = [
    REQUEST,
    REQUEST + CLIENT_HELLO,
    REQUEST + CLIENT_HELLO + FRAMES,
    LENIENT_REQUEST + CLIENT_HELLO + FRAMES,
    REQUEST.replace(b"Draft: 3\r\n", b"Draft: 3\r\nContent-Length: 3\r\n") + b"abc",
]
CLIENT_CORPUS = [
    RESPONSE,
    RESPONSE + SERVER_HELLO,
    RESPONSE + SERVER_HELLO + FRAMES,
    b"HTTP/1.1 100 Continue\r\n\r\n" + RESPONSE + SERVER_HELLO + FRAMES,
    REJECTION,
    CLOSE_DELIMITED,
]
OPEN_CORPUS = [FRAMES, FRAMES[:-5], b"\x82\x00" * 4 + b"\x84\x01a"]
# Bytes that matter to the parsers: CR, LF, ':', length markers, FIN and opcode bits.
SPECIAL = b"\x00\r\n:, \t\x7e\x7f\x80\x81\x82\x84\x85\x8f\x04\x00\xff"


def mutate(data: bytes, rng: random.Random, corpus: list[bytes]) -> bytes:
    """Apply one to four random mutations to ``data``."""
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        size = len(buffer)
        position = rng.randint(0, size)
        kind = rng.randrange(8)
        if kind == 0 and size:  # Flip some bits of a byte.
            buffer[position % size] ^= 1 << rng.randrange(8) | rng.randrange(256) * (size > 100)
        elif kind == 1 and size:  # Replace a byte with one that matters.
            buffer[position % size] = rng.choice(SPECIAL)
        elif kind == 2:  # Truncate.
            del buffer[position:]
        elif kind == 3:  # Insert random bytes.
            buffer[position:position] = rng.randbytes(rng.randint(1, 8))
        elif kind == 4 and size:  # Duplicate a slice.
            end = min(size, position + rng.randint(1, 40))
            buffer[end:end] = buffer[position:end]
        elif kind == 5:  # Delete a slice.
            del buffer[position : position + rng.randint(1, 20)]
        elif kind == 6:  # Splice in a piece of another transcript.
            other = rng.choice(corpus)
            start = rng.randint(0, len(other))
            buffer[position:] = other[start : start + rng.randint(1, 60)] + buffer[position:]
        else:  # Insert a byte that matters.
            buffer[position:position] = bytes([rng.choice(SPECIAL)])
    return bytes(buffer)


def random_input(rng: random.Random, corpus: list[bytes]) -> bytes:
    """A mutated transcript most of the time, else pure random bytes."""
    if rng.random() < 0.8:
        return mutate(rng.choice(corpus), rng, corpus)
    if rng.random() < 0.5:
        return rng.randbytes(rng.randint(0, 300))
    # Random printable text, which looks more like HTTP.
    alphabet = b"GET /HTTP1.:\r\n WebSocket-Upgrade0123456789ABCDEF"
    return bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 300)))


def cut(data: bytes, rng: random.Random, *, after_head: bool = False) -> list[bytes]:
    """Cut ``data`` into random chunks (sometimes one, sometimes single bytes).

    With ``after_head``, usually cut right after the HTTP head too, as a client does: it
    cannot send its HELLO before it has read the server's.
    """
    head_end = data.find(b"\r\n\r\n") + 4
    if after_head and head_end > 3 and rng.random() < 0.7:
        return [*cut(data[:head_end], rng), *cut(data[head_end:], rng)]
    if not data:
        return []
    mode = rng.randrange(4)
    if mode == 0:
        return [data]
    if mode == 1 and len(data) < 400:
        return [data[i : i + 1] for i in range(len(data))]
    points = sorted(rng.sample(range(1, len(data) + 1), min(len(data), rng.randint(1, 10))))
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def new_server() -> Protocol:
    return ServerProtocol(nonce=SERVER_NONCE)


def new_client() -> Protocol:
    return ClientProtocol(
        "ws://example.com/demo",
        origin="http://example.com",
        subprotocol="sample",
        nonce=CLIENT_NONCE,
    )


def open_server() -> Protocol:
    server = ServerProtocol(nonce=SERVER_NONCE)
    server.receive_data(REQUEST)
    server.accept("sample")
    server.receive_data(CLIENT_HELLO)
    assert server.state is State.OPEN
    return server


def open_client() -> Protocol:
    client = new_client()
    client.receive_data(RESPONSE + SERVER_HELLO)
    assert client.state is State.OPEN
    return client


@dataclass
class Target:
    make: Callable[[], Protocol]
    corpus: list[bytes]
    count: int
    opened: bool  # Whether the connection is open before the input.
    after_head: bool = False  # Whether to deliver the HTTP head first, as a client would.


TARGETS = {
    "fresh-server": Target(new_server, SERVER_CORPUS, 3500, opened=False, after_head=True),
    "fresh-client": Target(new_client, CLIENT_CORPUS, 3000, opened=False),
    "open-server": Target(open_server, OPEN_CORPUS, 2000, opened=True),
    "open-client": Target(open_client, OPEN_CORPUS, 2000, opened=True),
}


def drain(protocol: Protocol, events: list[Event], output: list[bytes]) -> None:
    """Collect output and events, accepting requests the way an application would."""
    while True:
        output.extend(protocol.data_to_send())
        new = protocol.events_received()
        if not new:
            return
        events.extend(new)
        for event in new:
            if isinstance(event, Request) and protocol.state is State.ACCEPTING:
                assert isinstance(protocol, ServerProtocol)
                protocol.accept(event.subprotocol)


def check_outcome(
    protocol: Protocol, events: list[Event], output: list[bytes], *, opened: bool, eof: bool
) -> None:
    """Assert that what came out is one of the documented outcomes."""
    is_server = isinstance(protocol, ServerProtocol)
    event_types = (Request, Opened, TextMessage, BinaryMessage, Ping, Pong, Closed)
    assert all(isinstance(event, event_types) for event in events)
    assert all(type(chunk) is bytes for chunk in output)

    closed = [event for event in events if isinstance(event, Closed)]
    assert len(closed) <= 1
    if closed:
        assert events[-1] is closed[0], "Closed must be the last event"
        error = closed[0].error
        assert error is None or isinstance(error, RemoteProtocolError)
        assert not isinstance(error, LocalProtocolError)
        assert protocol.state is State.CLOSED
        assert protocol.error is error
        assert protocol.close_expected()
    else:
        assert protocol.state is not State.CLOSED
        assert protocol.error is None
        assert not eof, "EOF must close the connection"

    requests = [event for event in events if isinstance(event, Request)]
    opens = [event for event in events if isinstance(event, Opened)]
    assert len(requests) <= 1
    assert len(opens) <= 1
    if requests:
        assert is_server
        assert not opened
        assert events[0] is requests[0]
    if opens:
        assert not opened
        assert opens[0].subprotocol == protocol.subprotocol
    # Messages, pings and pongs only flow on an open connection.
    first_message = next(
        (
            i
            for i, e in enumerate(events)
            if isinstance(e, TextMessage | BinaryMessage | Ping | Pong)
        ),
        None,
    )
    if first_message is not None:
        assert opened or (opens and events.index(opens[0]) < first_message)
    if protocol.state in (State.OPEN, State.CLOSING):
        assert opened or opens

    # SEND_EOF: the server closes the transport whenever it is done; the client only when
    # it fails. Nothing may follow it.
    eofs = [i for i, chunk in enumerate(output) if chunk == SEND_EOF]
    expects_eof = bool(closed) and (is_server or closed[0].error is not None)
    assert eofs == ([len(output) - 1] if expects_eof else [])
    assert protocol.close_expected() == (protocol.state in (State.CLOSING, State.CLOSED))


@pytest.mark.parametrize("name", TARGETS)
def test_random_and_mutated_input_only_has_documented_outcomes(name: str) -> None:
    target = TARGETS[name]
    rng = random.Random(f"{SEED}-{name}")
    for index in range(target.count):
        data = random_input(rng, target.corpus)
        chunks = cut(data, rng, after_head=target.after_head)
        if rng.random() < 0.1:  # Empty data is ignored, wherever it comes.
            chunks.insert(rng.randint(0, len(chunks)), b"")
        eof = rng.random() < 0.3
        protocol = target.make()
        protocol.data_to_send()
        protocol.events_received()
        events: list[Event] = []
        output: list[bytes] = []
        where = f"{name} input #{index} (seed {SEED}): chunks={chunks!r} eof={eof}"
        try:
            for chunk in chunks:
                protocol.receive_data(chunk)
                drain(protocol, events, output)
            if eof:
                protocol.receive_eof()
                drain(protocol, events, output)
            check_outcome(protocol, events, output, opened=target.opened, eof=eof)
            if protocol.state is State.CLOSED:
                # Once closed, nothing more comes out.
                protocol.receive_data(data or b"\x84\x00")
                protocol.receive_eof()
                assert protocol.events_received() == []
                assert protocol.data_to_send() == []
        except AssertionError as exc:
            raise AssertionError(f"{where}: {exc}") from exc
        except Exception as exc:  # The point: nothing escapes.
            pytest.fail(f"{where}: raised {exc!r}")


def test_the_fuzzer_feeds_at_least_10000_inputs() -> None:
    assert sum(target.count for target in TARGETS.values()) >= 10_000


def test_the_unmutated_transcripts_open_the_connection() -> None:
    # The corpus is valid, so the mutations start from inputs that reach every state.
    for make, data in [(new_server, SERVER_CORPUS[2]), (new_client, CLIENT_CORPUS[2])]:
        protocol = make()
        events: list[Event] = []
        output: list[bytes] = []
        for chunk in cut(data, random.Random(SEED), after_head=True):
            protocol.receive_data(chunk)
            drain(protocol, events, output)
        assert Opened(subprotocol="sample") in events
        assert TextMessage("\u00e9\U0001f600!") in events
        assert events[-1] == Closed(body=b"bye")
