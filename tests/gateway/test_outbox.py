"""Tests of gateway.outbox: framing once per protocol, conflation and the slow-client policy,
with a fake connection."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.outbox import POLICY_VIOLATION, Outbox, Outgoing


@dataclass(frozen=True)
class Tagged:
    """A framing that tags the payload with a name, and counts its calls."""

    name: str
    calls: list[bytes] = field(default_factory=list, compare=False, hash=False)

    def __call__(self, text: bool, payload: bytes) -> tuple[bytes, ...]:
        self.calls.append(payload)
        return (self.name.encode() + b":" + payload,)


@dataclass
class FakeConnection:
    """A connection whose buffer holds what is written until the test says it was sent."""

    framing: Tagged = field(default_factory=lambda: Tagged("fake"))
    open: bool = True
    written: list[bytes] = field(default_factory=list)
    waiting: int = 0
    closed: tuple[str, int] | None = None

    def is_open(self) -> bool:
        return self.open

    def write(self, frames: tuple[bytes, ...]) -> None:
        self.written += frames
        self.waiting += sum(len(frame) for frame in frames)

    def buffered(self) -> int:
        return self.waiting

    def close(self, reason: str, code: int = 1000) -> None:
        self.closed = (reason, code)
        self.open = False


def outbox(connection: FakeConnection, max_write_buffer: int = 100) -> Outbox:
    return Outbox(connection, max_write_buffer)


def test_a_message_is_framed_once_per_framing_however_many_connections_get_it() -> None:
    one, other = Tagged("one"), Tagged("other")
    connections = [FakeConnection(one), FakeConnection(one), FakeConnection(other)]
    message = Outgoing.of("hi")
    for connection in connections:
        assert outbox(connection).send(message) is True
    assert [connection.written for connection in connections] == [
        [b"one:hi"],
        [b"one:hi"],
        [b"other:hi"],
    ]
    assert one.calls == [b"hi"]
    assert other.calls == [b"hi"]


def test_a_slow_client_gets_only_the_latest_message_of_a_conflated_topic() -> None:
    connection = FakeConnection()
    box = outbox(connection)
    box.conflate("quotes.MSFT", True)
    box.pause()
    for n in range(3):
        assert box.send(Outgoing.of(f"MSFT {n}"), "quotes.MSFT") is True
    assert box.send(Outgoing.of("a reply")) is True
    assert box.send(Outgoing.of("IBM 0"), "quotes.IBM") is True  # not conflated
    assert connection.written == [b"fake:a reply", b"fake:IBM 0"]
    box.resume()
    assert connection.written[-1] == b"fake:MSFT 2"
    assert box.held == {}


def test_subscribing_again_or_forgetting_a_topic_drops_its_held_message() -> None:
    connection = FakeConnection()
    box = outbox(connection)
    for topic in ("a", "b", "c"):
        box.conflate(topic, True)
    box.pause()
    for topic in ("a", "b", "c"):
        box.send(Outgoing.of(topic), topic)
    box.conflate("a", False)
    box.forget("b")
    box.resume()
    assert connection.written == [b"fake:c"]
    assert box.conflated == {"c"}


def test_a_client_too_far_behind_is_closed_with_a_reason_and_a_code() -> None:
    connection = FakeConnection()
    box = outbox(connection, max_write_buffer=10)
    assert box.send(Outgoing.of("0123456789")) is True
    assert box.send(Outgoing.of("one too many")) is False
    assert connection.closed == ("too slow: messages are piling up", POLICY_VIOLATION)
    assert box.send(Outgoing.of("after")) is False


def test_the_held_messages_wait_again_if_the_client_is_slow_again_while_catching_up() -> None:
    connection = FakeConnection()
    box = outbox(connection)
    box.conflate("a", True)
    box.conflate("b", True)
    box.pause()
    box.send(Outgoing.of("a"), "a")
    box.send(Outgoing.of("b"), "b")
    original_write = connection.write

    def write_then_pause(frames: tuple[bytes, ...]) -> None:
        original_write(frames)
        box.pause()

    connection.write = write_then_pause  # type: ignore[method-assign]
    box.resume()
    assert connection.written == [b"fake:a"]
    assert list(box.held) == ["b"]
