import json

import pytest

from bus import (
    BusError,
    Canary,
    Close,
    Command,
    Envelope,
    Send,
    Subscribe,
    Unsubscribe,
    decode_command,
    decode_topic,
    encode_command,
    skipping,
)

ENVELOPE = Envelope(
    kind="message",
    conn="gw-1.7",
    seq=3,
    gateway="gw-1",
    path="/chat",
    query="nick=alice",
    payload="hello",
    received_at=1.5,
    published_at=2.0,
)


def test_an_envelope_survives_encoding() -> None:
    assert Envelope.decode(ENVELOPE.encode()) == ENVELOPE


def test_an_envelope_is_json_with_a_version() -> None:
    fields = json.loads(ENVELOPE.encode())
    assert fields["v"] == 1
    assert fields["seq"] == 3


@pytest.mark.parametrize("seq", ["3", 3.0, True, None])
def test_an_envelope_whose_seq_is_not_an_integer_is_refused(seq: object) -> None:
    fields = json.loads(ENVELOPE.encode())
    fields["seq"] = seq
    with pytest.raises(BusError, match="seq"):
        Envelope.decode(json.dumps(fields))


def test_an_envelope_without_seq_is_refused() -> None:
    fields = json.loads(ENVELOPE.encode())
    del fields["seq"]
    with pytest.raises(BusError, match="incomplete"):
        Envelope.decode(json.dumps(fields))


@pytest.mark.parametrize(
    "command",
    [
        Send(conn="gw-1.7", payload="hi"),
        Send(conn="gw-1.7", payload="AP8=", binary=True),
        Subscribe(conn="gw-1.7", topic="chat.lobby"),
        Subscribe(conn="gw-1.7", topic="quotes.MSFT", conflate=True),
        Unsubscribe(conn="gw-1.7", topic="chat.lobby"),
        Close(conn="gw-1.7", reason="bye"),
        Canary(token="abc"),
    ],
)
def test_each_command_survives_encoding(command: Command) -> None:
    assert decode_command(encode_command(command)) == command


def test_a_subscribe_does_not_conflate_unless_asked() -> None:
    command = decode_command(b'{"v": 1, "op": "subscribe", "conn": "c", "topic": "t"}')
    assert command == Subscribe(conn="c", topic="t", conflate=False)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"nope", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"v": 2, "op": "send", "conn": "c", "payload": ""}', "unsupported bus version"),
        (b'{"v": 1, "op": "explode"}', "unknown command"),
        (b'{"v": 1, "op": "subscribe", "conn": "c", "topic": "t", "x": 1}', "unknown field"),
        (b'{"v": 1, "op": "subscribe", "conn": "c", "topic": "t", "conflate": 1}', "conflate"),
        (b'{"v": 1, "op": "close"}', "incomplete"),
    ],
)
def test_a_malformed_command_is_refused_with_its_problem(data: bytes, problem: str) -> None:
    with pytest.raises(BusError, match=problem):
        decode_command(data)


def test_a_topic_message_without_a_prefix_is_the_text_every_subscriber_receives() -> None:
    assert decode_topic(b'{"type": "quote"}') == (b'{"type": "quote"}', frozenset())


def test_a_topic_message_names_the_connections_that_skip_it_before_its_text() -> None:
    message = skipping(["gw-1.7", "gw-2.1"]) + "caf\u00e9\n".encode()
    assert decode_topic(message) == ("caf\u00e9\n".encode(), frozenset({"gw-1.7", "gw-2.1"}))


@pytest.mark.parametrize("data", [b"\xff", b'\xff["gw-1.7"]', b"\xff{}\nhi", b"\xff[7]\nhi"])
def test_a_malformed_skip_prefix_is_refused(data: bytes) -> None:
    with pytest.raises(BusError, match="skipped connections"):
        decode_topic(data)
