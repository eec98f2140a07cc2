"""Tests of wsdraft.protocol, the behaviour both sides share: messages, fragmentation,
ping and pong, the closing handshake, and failing the connection.

Most tests run once per direction (``client_sends``), through an in-memory pair.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from wsdraft import (
    SEND_EOF,
    BinaryMessage,
    Closed,
    ConnectionLost,
    FramingError,
    HandshakeRejected,
    Limits,
    LocalProtocolError,
    PayloadTooBig,
    Ping,
    Pong,
    PreparedMessage,
    Protocol,
    RemoteProtocolError,
    Request,
    ServerProtocol,
    State,
    TextMessage,
)

directions = pytest.mark.parametrize(
    "client_sends", [True, False], ids=["client-sends", "server-sends"]
)
sides = pytest.mark.parametrize("side", ["client", "server"])


def ends(pair: Any, client_sends: bool) -> tuple[Protocol, Protocol]:
    """Return (sender, receiver) of a pair."""
    sender = pair.client if client_sends else pair.server
    return sender, pair.peer(sender)


# Messages.


@directions
@pytest.mark.parametrize(
    ("send", "wire", "event"),
    [
        pytest.param(
            lambda p: p.send_text("Hello"), [b"\x84\x05Hello"], TextMessage("Hello"), id="text"
        ),
        pytest.param(lambda p: p.send_text(""), [b"\x84\x00"], TextMessage(""), id="empty-text"),
        pytest.param(
            lambda p: p.send_text("x" * 200),
            [b"\x84\x7e\x00\xc8" + b"x" * 200],
            TextMessage("x" * 200),
            id="200-byte-text",
        ),
        pytest.param(
            lambda p: p.send_text("\u00e9\u20ac\U0001f600"),
            [b"\x84\x09\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"],
            TextMessage("\u00e9\u20ac\U0001f600"),
            id="non-ascii-text",
        ),
        pytest.param(
            lambda p: p.send_binary(bytes(range(256))),
            [b"\x85\x7e\x01\x00" + bytes(range(256))],
            BinaryMessage(bytes(range(256))),
            id="256-byte-binary",
        ),
        pytest.param(
            lambda p: p.send_binary(b"\x00" * 65536),
            [b"\x85\x7f\x00\x00\x00\x00\x00\x01\x00\x00" + b"\x00" * 65536],
            BinaryMessage(b"\x00" * 65536),
            id="64-kib-binary",
        ),
        pytest.param(
            lambda p: p.send_binary(b""), [b"\x85\x00"], BinaryMessage(b""), id="empty-binary"
        ),
        pytest.param(
            lambda p: p.send_binary(bytearray(b"ab")),
            [b"\x85\x02ab"],
            BinaryMessage(b"ab"),
            id="bytearray",
        ),
        pytest.param(
            lambda p: p.send_binary(memoryview(b"xaby")[1:3]),
            [b"\x85\x02ab"],
            BinaryMessage(b"ab"),
            id="memoryview",
        ),
    ],
)
def test_a_message_sent_by_one_side_arrives_at_the_other(
    pair: Any,
    client_sends: bool,
    send: Callable[[Protocol], None],
    wire: list[bytes],
    event: object,
) -> None:
    sender, receiver = ends(pair, client_sends)
    send(sender)
    assert sender.data_to_send() == wire
    for chunk in wire:
        receiver.receive_data(chunk)
    assert receiver.events_received() == [event]
    assert receiver.data_to_send() == []


@directions
@pytest.mark.parametrize(
    ("fragment_size", "send", "wire", "event"),
    [
        pytest.param(
            3,
            lambda p: p.send_text("Hello"),
            [b"\x04\x03Hel", b"\x80\x02lo"],
            TextMessage("Hello"),
            id="drafts-fragmented-text",
        ),
        pytest.param(
            3,
            lambda p: p.send_text("Hello!"),
            [b"\x04\x03Hel", b"\x80\x03lo!"],
            TextMessage("Hello!"),
            id="exact-multiple",
        ),
        pytest.param(
            5,
            lambda p: p.send_text("Hello"),
            [b"\x84\x05Hello"],
            TextMessage("Hello"),
            id="exactly-one-fragment",
        ),
        pytest.param(
            2,
            lambda p: p.send_binary(b"abcde"),
            [b"\x05\x02ab", b"\x00\x02cd", b"\x80\x01e"],
            BinaryMessage(b"abcde"),
            id="binary-in-three",
        ),
        pytest.param(
            1,
            lambda p: p.send_text("\u00e9"),
            [b"\x04\x01\xc3", b"\x80\x01\xa9"],
            TextMessage("\u00e9"),
            id="utf-8-sequence-split",
        ),
    ],
)
def test_a_message_longer_than_fragment_size_is_sent_in_fragments(
    make_pair: Callable[..., Any],
    client_sends: bool,
    fragment_size: int,
    send: Callable[[Protocol], None],
    wire: list[bytes],
    event: object,
) -> None:
    pair = make_pair(limits=Limits(fragment_size=fragment_size)).open()
    sender, receiver = ends(pair, client_sends)
    send(sender)
    assert sender.data_to_send() == wire
    for chunk in wire:
        receiver.receive_data(chunk)
    assert receiver.events_received() == [event]


@sides
@pytest.mark.parametrize(
    ("data", "events", "output"),
    [
        pytest.param(
            b"\x04\x03Hel\x80\x02lo", [TextMessage("Hello")], [], id="drafts-fragmented-text"
        ),
        pytest.param(
            b"\x05\x01a\x00\x00\x00\x01b\x80\x01c",
            [BinaryMessage(b"abc")],
            [],
            id="binary-with-empty-fragment",
        ),
        pytest.param(b"\x04\x00\x80\x00", [TextMessage("")], [], id="empty-fragments"),
        pytest.param(
            b"\x04\x03Hel\x82\x05Hello\x83\x00\x80\x02lo",
            [Ping(b"Hello"), Pong(b""), TextMessage("Hello")],
            [b"\x83\x05Hello"],
            id="control-frames-between-fragments",
        ),
        pytest.param(
            b"\x04\x01\xf0\x00\x02\x9f\x98\x80\x01\x80",
            [TextMessage("\U0001f600")],
            [],
            id="utf-8-split-over-three-fragments",
        ),
        pytest.param(
            b"\x84\x05Hello\x85\x00\x84\x01!",
            [TextMessage("Hello"), BinaryMessage(b""), TextMessage("!")],
            [],
            id="several-messages",
        ),
        pytest.param(
            b"\x84\x7f\x00\x00\x00\x00\x00\x00\x00\x02hi",
            [TextMessage("hi")],
            [],
            id="non-minimal-length",
        ),
        pytest.param(
            b"\x82\x05Hello", [Ping(b"Hello")], [b"\x83\x05Hello"], id="drafts-ping-gets-pong"
        ),
        pytest.param(
            b"\x82\x00\x82\x01a",
            [Ping(b""), Ping(b"a")],
            [b"\x83\x00", b"\x83\x01a"],
            id="one-pong-per-ping",
        ),
        pytest.param(
            b"\x82\x7d" + b"p" * 125,
            [Ping(b"p" * 125)],
            [b"\x83\x7d" + b"p" * 125],
            id="ping-of-125-bytes",
        ),
        pytest.param(b"\x83\x05Hello", [Pong(b"Hello")], [], id="unsolicited-pong"),
    ],
)
def test_an_open_connection_receives_frames_however_they_are_split(
    feed_all_ways: Callable[..., Any],
    open_protocol: Callable[..., Protocol],
    side: str,
    data: bytes,
    events: list[object],
    output: list[bytes],
) -> None:
    run = feed_all_ways(lambda: open_protocol(side), data)
    assert run.events == events
    assert run.output == output
    assert run.state is State.OPEN


@directions
def test_a_ping_is_answered_with_a_pong_carrying_the_same_data(
    pair: Any, client_sends: bool
) -> None:
    sender, receiver = ends(pair, client_sends)
    sender.send_ping(b"Hello")
    assert sender.data_to_send() == [b"\x82\x05Hello"]
    receiver.receive_data(b"\x82\x05Hello")
    assert receiver.events_received() == [Ping(b"Hello")]
    assert receiver.data_to_send() == [b"\x83\x05Hello"]
    sender.receive_data(b"\x83\x05Hello")
    assert sender.events_received() == [Pong(b"Hello")]
    assert sender.data_to_send() == []


@directions
def test_a_ping_without_data_is_empty(pair: Any, client_sends: bool) -> None:
    sender, _ = ends(pair, client_sends)
    sender.send_ping()
    sender.send_ping(bytearray(b"p" * 125))
    assert sender.data_to_send() == [b"\x82\x00", b"\x82\x7d" + b"p" * 125]


@directions
@pytest.mark.parametrize(
    ("action", "message"),
    [
        pytest.param(
            lambda p: p.send_ping(b"p" * 126),
            "cannot send a ping with more than 125 bytes",
            id="ping",
        ),
        pytest.param(
            lambda p: p.send_close(b"c" * 126),
            "cannot close with more than 125 bytes",
            id="close",
        ),
    ],
)
def test_a_control_frame_over_125_bytes_cannot_be_sent(
    pair: Any, client_sends: bool, action: Callable[[Protocol], None], message: str
) -> None:
    sender, _ = ends(pair, client_sends)
    with pytest.raises(LocalProtocolError) as exc_info:
        action(sender)
    assert str(exc_info.value) == message
    assert sender.data_to_send() == []
    assert sender.state is State.OPEN


# The closing handshake.


def test_client_initiated_close_is_echoed_and_the_server_closes_the_transport(
    pair: Any,
) -> None:
    client, server = pair.client, pair.server
    client.send_close(b"bye")
    assert client.state is State.CLOSING
    assert client.close_expected()
    pair.pump()
    assert pair.sent[client] == [b"\x81\x03bye"]
    # The server echoes the body, then closes TCP at once (spec §4.8).
    assert pair.sent[server] == [b"\x81\x03bye", SEND_EOF]
    assert pair.events(server) == [Closed(body=b"bye", error=None)]
    assert pair.events(client) == [Closed(body=b"bye", error=None)]
    assert client.state is State.CLOSED
    assert server.state is State.CLOSED


def test_server_initiated_close_is_echoed_and_the_client_expects_the_transport_to_close(
    pair: Any,
) -> None:
    client, server = pair.client, pair.server
    server.send_close()
    assert server.data_to_send() == [b"\x81\x00"]
    client.receive_data(b"\x81\x00")
    # The client echoes, and waits for the server to close TCP; it does not close first.
    assert client.data_to_send() == [b"\x81\x00"]
    assert client.events_received() == [Closed(body=b"", error=None)]
    assert client.state is State.CLOSED
    assert client.close_expected()
    server.receive_data(b"\x81\x00")
    assert server.data_to_send() == [SEND_EOF]
    [closed] = server.events_received()
    assert closed.clean
    assert server.state is State.CLOSED
    # The server's TCP close reaches a client that is done already.
    client.receive_eof()
    assert client.events_received() == []
    assert client.data_to_send() == []


def test_simultaneous_closes_complete_without_echoes(pair: Any) -> None:
    client, server = pair.client, pair.server
    client.send_close(b"c")
    server.send_close(b"s")
    pair.pump()
    assert pair.sent[client] == [b"\x81\x01c"]
    assert pair.sent[server] == [b"\x81\x01s", SEND_EOF]
    assert pair.events(client) == [Closed(body=b"s", error=None)]
    assert pair.events(server) == [Closed(body=b"c", error=None)]


@directions
def test_messages_still_arrive_while_closing_but_pings_get_no_pong(
    pair: Any, client_sends: bool
) -> None:
    closer, peer = ends(pair, client_sends)
    closer.send_close()
    closer.data_to_send()
    closer.receive_data(b"\x84\x02hi\x82\x01p\x83\x00")
    assert closer.events_received() == [TextMessage("hi"), Ping(b"p"), Pong(b"")]
    assert closer.data_to_send() == []
    assert closer.state is State.CLOSING
    assert peer.state is State.OPEN


@directions
@pytest.mark.parametrize(
    ("action", "message"),
    [
        pytest.param(lambda p: p.send_text("x"), "cannot send a message in state {}", id="text"),
        pytest.param(
            lambda p: p.send_binary(b"x"), "cannot send a message in state {}", id="binary"
        ),
        pytest.param(lambda p: p.send_ping(), "cannot send a ping in state {}", id="ping"),
        pytest.param(lambda p: p.send_close(), "cannot close in state {}", id="close"),
    ],
)
def test_nothing_can_be_sent_once_closing_or_closed(
    pair: Any, client_sends: bool, action: Callable[[Protocol], None], message: str
) -> None:
    closer, _ = ends(pair, client_sends)
    closer.send_close()
    with pytest.raises(LocalProtocolError) as exc_info:
        action(closer)
    assert str(exc_info.value) == message.format("CLOSING")
    pair.pump()
    assert closer.state is State.CLOSED
    with pytest.raises(LocalProtocolError) as exc_info:
        action(closer)
    assert str(exc_info.value) == message.format("CLOSED")


@sides
def test_frames_after_a_close_are_ignored(
    feed_all_ways: Callable[..., Any], open_protocol: Callable[..., Protocol], side: str
) -> None:
    run = feed_all_ways(lambda: open_protocol(side), b"\x84\x01a\x81\x01x\x84\x01b\xff\xff")
    assert run.events == [TextMessage("a"), Closed(body=b"x", error=None)]
    sent = [b"\x81\x01x"] + ([SEND_EOF] if side == "server" else [])
    assert run.output == sent
    assert run.state is State.CLOSED


@sides
@pytest.mark.parametrize("closing", [False, True], ids=["open", "closing"])
def test_losing_the_transport_without_a_closing_handshake_fails_the_connection(
    open_protocol: Callable[..., Protocol], side: str, closing: bool
) -> None:
    protocol = open_protocol(side)
    if closing:
        protocol.send_close()
        protocol.data_to_send()
    protocol.receive_eof()
    [closed] = protocol.events_received()
    assert isinstance(closed, Closed)
    assert type(closed.error) is ConnectionLost
    assert str(closed.error) == "the connection closed without a closing handshake"
    assert protocol.data_to_send() == [SEND_EOF]
    assert protocol.state is State.CLOSED
    protocol.receive_eof()
    protocol.receive_data(b"\x84\x01a")
    assert protocol.events_received() == []


def test_the_drafts_example_conversation_goes_byte_for_byte(pair: Any) -> None:
    client, server = pair.client, pair.server
    handshake = pair.handshake_sent
    assert handshake[client] == [
        b"GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Nonce: A23F2BCA452DDE01\r\nUpgrade: WebSocket\r\n"
        b"Origin: http://example.com\r\nSec-WebSocket-Draft: 3\r\n\r\n",
        bytes.fromhex("8f1033122035d11258fd7c764314580e539c"),
    ]
    assert handshake[server][1] == bytes.fromhex(
        "8f1815f0d2278bcd457fee7ebe0c369cbf255a4451fc58d7cc4f"
    )
    sent = pair.sent
    client.send_text("Hello")
    assert pair.events(server) == [TextMessage("Hello")]
    server.send_text("Hello")
    server.receive_data(b"")  # Nothing arrived: nothing happens.
    assert pair.events(client) == [TextMessage("Hello")]
    server.limits = Limits(fragment_size=3)
    server.send_text("Hello")
    server.send_ping(b"Hello")
    assert pair.events(client) == [TextMessage("Hello"), Ping(b"Hello")]
    assert pair.events(server) == [Pong(b"Hello")]
    client.send_text("x" * 200)
    assert pair.events(server) == [TextMessage("x" * 200)]
    client.send_close()
    pair.pump()
    assert sent[client] == [
        b"\x84\x05Hello",
        b"\x83\x05Hello",
        b"\x84\x7e\x00\xc8" + b"x" * 200,
        b"\x81\x00",
    ]
    assert sent[server] == [
        b"\x84\x05Hello",
        b"\x04\x03Hel",
        b"\x80\x02lo",
        b"\x82\x05Hello",
        b"\x81\x00",
        SEND_EOF,
    ]
    assert pair.events(client) == [Closed()]
    assert pair.events(server) == [Closed()]
    assert pair.closed_transport == {server}
    assert client.close_expected()


def test_a_request_the_server_refuses_reaches_the_client_with_its_reason(
    make_pair: Callable[..., Any],
) -> None:
    pair = make_pair(origins=["http://example.org"])
    pair.pump()
    [closed] = pair.events(pair.server)
    assert str(closed.error) == "403 Forbidden: origin http://example.com is not allowed"
    [closed] = pair.events(pair.client)
    assert isinstance(closed.error, HandshakeRejected)
    assert str(closed.error) == (
        "server rejected the handshake with 403: origin http://example.com is not allowed"
    )
    assert pair.closed_transport == {pair.server}
    assert pair.client.state is State.CLOSED


def test_a_request_the_application_rejects_reaches_the_client_with_its_reason(
    make_pair: Callable[..., Any],
) -> None:
    pair = make_pair()
    [request] = pair.events(pair.server)
    assert isinstance(request, Request)
    pair.server.reject(503, "server full", [("Retry-After", "30")])
    assert pair.events(pair.server) == [Closed()]
    [closed] = pair.events(pair.client)
    assert isinstance(closed.error, HandshakeRejected)
    assert (closed.error.status, closed.error.reason) == (503, "server full")


@directions
def test_a_side_that_fails_tells_its_peer_why_in_a_close_frame(
    pair: Any, client_sends: bool
) -> None:
    # The receiver gets a frame with RSV1 set, as if the sender were broken.
    sender, receiver = ends(pair, client_sends)
    receiver.receive_data(b"\xc4\x00")
    pair.pump()
    reason = b"reserved bits RSV1-3 must be 0"
    assert pair.sent[receiver] == [b"\x81\x1e" + reason, SEND_EOF]
    [failed] = pair.events(receiver)
    assert isinstance(failed.error, FramingError)
    # The sender sees a closing handshake with the reason as the body.
    assert pair.events(sender) == [Closed(body=reason, error=None)]
    assert pair.closed_transport == {receiver}
    assert sender.state is State.CLOSED
    assert receiver.state is State.CLOSED


def test_a_client_that_loses_the_transport_mid_message_reports_it(pair: Any) -> None:
    pair.server.limits = Limits(fragment_size=2)
    pair.server.send_text("Hello")
    frames = pair.server.data_to_send()
    pair.client.receive_data(frames[0])
    pair.client.receive_eof()
    [closed] = pair.client.events_received()
    assert type(closed.error) is ConnectionLost
    assert pair.client.data_to_send() == [SEND_EOF]


# Failing the connection on bad frames.

LIMITS = Limits(max_frame_size=200, max_message_size=300)
UTF8 = "invalid UTF-8 in a text message"


def close_frame(reason: str) -> bytes:
    body = reason.encode()[:125]
    return bytes([0x81, len(body)]) + body


@sides
@pytest.mark.parametrize(
    ("data", "error_type", "message"),
    [
        pytest.param(b"\xc4\x00", FramingError, "reserved bits RSV1-3 must be 0", id="rsv1"),
        pytest.param(b"\xa4\x00", FramingError, "reserved bits RSV1-3 must be 0", id="rsv2"),
        pytest.param(b"\x94\x00", FramingError, "reserved bits RSV1-3 must be 0", id="rsv3"),
        pytest.param(b"\x84\x85Hello", FramingError, "reserved bit RSV4 must be 0", id="rsv4"),
        *(
            pytest.param(
                bytes([0x80 | op, 0]), FramingError, f"reserved opcode 0x{op:X}", id=f"op-{op:X}"
            )
            for op in range(0x6, 0xF)
        ),
        pytest.param(
            b"\x85\x7f\x80\x00\x00\x00\x00\x00\x00\x05",
            FramingError,
            "64-bit length with its most significant bit set",
            id="64-bit-length-msb",
        ),
        pytest.param(
            b"\x85\x7e\x00\xc9",
            PayloadTooBig,
            "frame of 201 bytes exceeds the limit of 200 bytes",
            id="frame-too-big",
        ),
        pytest.param(
            b"\x85\x7f\x00\x00\x00\x01\x00\x00\x00\x00",
            PayloadTooBig,
            "frame of 4294967296 bytes exceeds the limit of 200 bytes",
            id="frame-of-4-gib",
        ),
        pytest.param(
            b"\x05\x7e\x00\xc8" + b"a" * 200 + b"\x00\x7e\x00\xc8" + b"b" * 200,
            PayloadTooBig,
            "message of 400 bytes exceeds the limit of 300 bytes",
            id="fragmented-message-too-big",
        ),
        pytest.param(
            b"\x04\x7e\x00\x96" + b"a" * 150 + b"\x00\x7e\x00\x96" + b"b" * 150 + b"\x80\x01c",
            PayloadTooBig,
            "message of 301 bytes exceeds the limit of 300 bytes",
            id="one-byte-over-in-last-fragment",
        ),
        pytest.param(
            b"\x80\x02lo",
            FramingError,
            "continuation frame without a message to continue",
            id="continuation-without-message",
        ),
        pytest.param(
            b"\x04\x03Hel\x84\x02lo",
            FramingError,
            "new message started before the previous one ended",
            id="text-during-fragmented-message",
        ),
        pytest.param(
            b"\x04\x03Hel\x05\x00",
            FramingError,
            "new message started before the previous one ended",
            id="binary-fragment-during-fragmented-text",
        ),
        pytest.param(b"\x02\x00", FramingError, "fragmented PING frame", id="fragmented-ping"),
        pytest.param(b"\x03\x00", FramingError, "fragmented PONG frame", id="fragmented-pong"),
        pytest.param(b"\x01\x00", FramingError, "fragmented CLOSE frame", id="fragmented-close"),
        pytest.param(
            b"\x04\x01a\x02\x00",
            FramingError,
            "fragmented PING frame",
            id="fragmented-ping-inside-message",
        ),
        pytest.param(
            b"\x82\x7e\x00\x7e" + b"p" * 126,
            FramingError,
            "PING frame longer than 125 bytes",
            id="ping-too-long",
        ),
        pytest.param(
            b"\x81\x7e\x00\x7e" + b"c" * 126,
            FramingError,
            "CLOSE frame longer than 125 bytes",
            id="close-too-long",
        ),
        pytest.param(
            b"\x83\x7e\x00\x7e" + b"p" * 126,
            FramingError,
            "PONG frame longer than 125 bytes",
            id="pong-too-long",
        ),
        pytest.param(b"\x84\x02\xc3\x28", FramingError, UTF8, id="invalid-utf-8"),
        pytest.param(b"\x84\x02\xc0\xaf", FramingError, UTF8, id="overlong-utf-8"),
        pytest.param(b"\x84\x03\xed\xa0\x80", FramingError, UTF8, id="utf-8-surrogate"),
        pytest.param(b"\x84\x01\xe2", FramingError, UTF8, id="truncated-utf-8"),
        pytest.param(
            b"\x04\x01\xe2\x80\x02\x28\xa1",
            FramingError,
            UTF8,
            id="invalid-utf-8-across-fragments",
        ),
        pytest.param(
            b"\x04\x02\x48\xe2\x00\x01\x82\x80\x00",
            FramingError,
            UTF8,
            id="truncated-utf-8-at-end-of-fragmented-message",
        ),
        pytest.param(
            b"\x8f\x00", FramingError, "HELLO frame after the opening handshake", id="hello"
        ),
        pytest.param(
            bytes.fromhex("8f1033122035d11258fd7c764314580e539c"),
            FramingError,
            "HELLO frame after the opening handshake",
            id="client-hello-again",
        ),
        pytest.param(b"\x0f\x00", FramingError, "fragmented HELLO frame", id="fragmented-hello"),
    ],
)
def test_an_open_connection_fails_on_a_bad_frame(
    feed_all_ways: Callable[..., Any],
    open_protocol: Callable[..., Protocol],
    side: str,
    data: bytes,
    error_type: type[RemoteProtocolError],
    message: str,
) -> None:
    run = feed_all_ways(lambda: open_protocol(side, LIMITS), data)
    assert len(run.events) == 1
    # Once open, the reason goes to the peer in a Close frame, then the transport closes.
    run.assert_failed(error_type, message, sent=[close_frame(message)])


@sides
def test_messages_before_a_bad_frame_are_delivered(
    feed_all_ways: Callable[..., Any], open_protocol: Callable[..., Protocol], side: str
) -> None:
    run = feed_all_ways(lambda: open_protocol(side), b"\x84\x02ok\x82\x00\xc4\x00\x84\x01x")
    assert run.events[:-1] == [TextMessage("ok"), Ping(b"")]
    run.assert_failed(
        FramingError,
        "reserved bits RSV1-3 must be 0",
        sent=[b"\x83\x00", close_frame("reserved bits RSV1-3 must be 0")],
    )


@sides
def test_a_failure_while_closing_sends_no_second_close(
    open_protocol: Callable[..., Protocol], side: str
) -> None:
    protocol = open_protocol(side)
    protocol.send_close()
    protocol.data_to_send()
    protocol.receive_data(b"\xc4\x00")
    [closed] = protocol.events_received()
    assert str(closed.error) == "reserved bits RSV1-3 must be 0"
    assert protocol.data_to_send() == [SEND_EOF]
    assert protocol.state is State.CLOSED


@sides
def test_a_long_failure_reason_is_cut_to_fit_a_close_frame(
    open_protocol: Callable[..., Protocol], side: str
) -> None:
    protocol = open_protocol(side, Limits(max_frame_size=1, max_message_size=1))
    protocol.receive_data(b"\x85\x7f\x7f\xff\xff\xff\xff\xff\xff\xff")
    [closed] = protocol.events_received()
    reason = str(closed.error).encode()
    assert reason == b"frame of 9223372036854775807 bytes exceeds the limit of 1 bytes"
    close, eof = protocol.data_to_send()
    assert close == bytes([0x81, len(reason)]) + reason
    assert eof == SEND_EOF


def test_a_close_frame_reason_longer_than_125_bytes_is_truncated() -> None:
    reason = "x" * 200
    assert close_frame(reason) == b"\x81\x7d" + b"x" * 125


# Properties.

# Text of every plane, including characters outside the BMP and NUL.
texts = st.text(st.characters(codec="utf-8"), max_size=200)


@settings(max_examples=100, deadline=None)
@given(
    client_sends=st.booleans(),
    fragment_size=st.integers(min_value=1, max_value=16),
    text=texts,
)
@example(client_sends=True, fragment_size=1, text="\U0001f600\U00010348 \u00e9\x00")
@example(client_sends=False, fragment_size=3, text="\U0010ffff" * 5)
def test_any_text_arrives_identical_through_a_pair(
    make_pair: Callable[..., Any], client_sends: bool, fragment_size: int, text: str
) -> None:
    pair = make_pair(limits=Limits(fragment_size=fragment_size)).open()
    sender, receiver = ends(pair, client_sends)
    sender.send_text(text)
    frames = sender.data_to_send()
    size = len(text.encode())
    assert len(frames) == max(1, math.ceil(size / fragment_size))
    assert all(len(frame) <= 2 + fragment_size for frame in frames)
    for frame in frames:
        receiver.receive_data(frame)
    assert receiver.events_received() == [TextMessage(text)]


@settings(max_examples=100, deadline=None)
@given(
    client_sends=st.booleans(),
    fragment_size=st.integers(min_value=1, max_value=64),
    messages=st.lists(st.one_of(texts, st.binary(max_size=300)), max_size=8),
    ping=st.binary(max_size=125),
)
def test_any_messages_arrive_identical_and_in_order_through_a_pair(
    make_pair: Callable[..., Any],
    client_sends: bool,
    fragment_size: int,
    messages: list[str | bytes],
    ping: bytes,
) -> None:
    pair = make_pair(limits=Limits(fragment_size=fragment_size)).open()
    sender, receiver = ends(pair, client_sends)
    expected: list[object] = []
    for index, message in enumerate(messages):
        if isinstance(message, str):
            sender.send_text(message)
            expected.append(TextMessage(message))
        else:
            sender.send_binary(message)
            expected.append(BinaryMessage(message))
        if index == 1:
            sender.send_ping(ping)
            expected.append(Ping(ping))
    assert pair.events(receiver) == expected
    pongs = [Pong(ping)] if len(messages) > 1 else []
    assert pair.events(sender) == pongs
    sender.send_close(b"done")
    assert pair.events(receiver) == [Closed(body=b"done")]
    assert pair.events(sender) == [Closed(body=b"done")]


@settings(max_examples=60, deadline=None)
@given(
    fragment_size=st.integers(min_value=1, max_value=8),
    text=st.text(st.characters(codec="utf-8"), min_size=1, max_size=40),
)
def test_any_fragmented_text_reads_back_when_fed_one_byte_at_a_time(
    open_protocol: Callable[..., Protocol], fragment_size: int, text: str
) -> None:
    sender = open_protocol("server", Limits(fragment_size=fragment_size))
    receiver = open_protocol("client")
    sender.send_text(text)
    wire = b"".join(sender.data_to_send())
    for byte in wire:
        receiver.receive_data(bytes([byte]))
    assert receiver.events_received() == [TextMessage(text)]
    assert receiver.state is State.OPEN


@sides
@pytest.mark.parametrize(
    ("message", "prepare"),
    [
        ("Hello", PreparedMessage.text),
        ("é" * 100, PreparedMessage.text),
        (bytes(range(256)), PreparedMessage.binary),
    ],
    ids=["short-text", "fragmented-text", "fragmented-binary"],
)
def test_a_prepared_message_goes_out_exactly_as_a_sent_one(
    open_protocol: Callable[..., Protocol],
    side: str,
    message: str | bytes,
    prepare: Callable[[Any, int], PreparedMessage],
) -> None:
    limits = Limits(fragment_size=64)
    sent, prepared = open_protocol(side, limits), open_protocol(side, limits)
    if isinstance(message, str):
        sent.send_text(message)
    else:
        sent.send_binary(message)
    prepared.send_prepared(prepare(message, limits.fragment_size))
    assert prepared.data_to_send() == sent.data_to_send()


def test_a_prepared_message_cannot_be_sent_before_the_connection_opens() -> None:
    server = ServerProtocol()
    with pytest.raises(LocalProtocolError, match="cannot send a message in state CONNECTING"):
        server.send_prepared(PreparedMessage.text("too early", 1024))
