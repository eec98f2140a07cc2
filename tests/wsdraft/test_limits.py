"""Tests of wsdraft.limits: defaults, validation, and how the core enforces each size."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import pytest

from wsdraft import (
    MAX_PAYLOAD_SIZE,
    SEND_EOF,
    BinaryMessage,
    ClientProtocol,
    Closed,
    InvalidRequest,
    InvalidResponse,
    Limits,
    PayloadTooBig,
    Ping,
    Protocol,
    Request,
    ServerProtocol,
    State,
    TextMessage,
)

SIZES = ("max_header_size", "max_frame_size", "max_message_size", "fragment_size")
TIMEOUTS = ("handshake_timeout", "close_timeout")


def test_limits_have_conservative_defaults() -> None:
    assert Limits() == Limits(
        max_header_size=16 * 1024,
        max_frame_size=2**20,
        max_message_size=2**20,
        fragment_size=64 * 1024,
        handshake_timeout=10.0,
        close_timeout=5.0,
    )


def test_max_payload_size_is_the_largest_63_bit_length() -> None:
    assert MAX_PAYLOAD_SIZE == 2**63 - 1


@pytest.mark.parametrize("name", SIZES)
@pytest.mark.parametrize("value", [1, 2**63 - 1])
def test_limits_accept_sizes_from_1_to_the_63_bit_maximum(name: str, value: int) -> None:
    assert getattr(Limits(**{name: value}), name) == value


@pytest.mark.parametrize("name", SIZES)
@pytest.mark.parametrize("value", [0, -1, 2**63])
def test_limits_refuse_a_size_out_of_range(name: str, value: int) -> None:
    with pytest.raises(ValueError) as exc_info:
        Limits(**{name: value})
    assert str(exc_info.value) == f"{name} must be between 1 and 2**63 - 1, not {value}"


@pytest.mark.parametrize("name", TIMEOUTS)
@pytest.mark.parametrize("value", [0, 0.0, -1.5])
def test_limits_refuse_a_timeout_that_is_not_positive(name: str, value: float) -> None:
    with pytest.raises(ValueError) as exc_info:
        Limits(**{name: value})
    assert str(exc_info.value) == f"{name} must be positive"


@pytest.mark.parametrize("name", TIMEOUTS)
def test_limits_accept_a_small_positive_timeout(name: str) -> None:
    assert getattr(Limits(**{name: 0.001}), name) == 0.001


def test_limits_are_immutable_and_keyword_only() -> None:
    limits = Limits()
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.max_frame_size = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        Limits(1024)  # type: ignore[misc]


def test_protocols_use_the_default_limits_unless_given_others() -> None:
    assert ServerProtocol().limits == Limits()
    assert ClientProtocol("ws://h/").limits == Limits()
    limits = Limits(max_frame_size=10)
    assert ServerProtocol(limits=limits).limits is limits
    assert ClientProtocol("ws://h/", limits=limits).limits is limits


REQUEST = (
    b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
    b"Origin: http://h\r\nSec-WebSocket-Nonce: A23F2BCA452DDE01\r\n\r\n"
)


def test_server_refuses_a_request_head_over_max_header_size_fed_in_pieces(
    run: Callable[..., Any],
) -> None:
    assert len(REQUEST) == 125
    result = run(
        lambda: ServerProtocol(limits=Limits(max_header_size=100)),
        [REQUEST[i : i + 10] for i in range(0, len(REQUEST), 10)],
    )
    reason = "Receive buffer too long"
    body = reason.encode() + b"\n"
    result.assert_failed(
        InvalidRequest,
        f"431 Request Header Fields Too Large: {reason}",
        sent=[
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body
        ],
    )
    assert result.events[0].error.status is HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE


def test_server_accepts_a_request_head_within_max_header_size(
    feed_all_ways: Callable[..., Any],
) -> None:
    result = feed_all_ways(lambda: ServerProtocol(limits=Limits(max_header_size=125)), REQUEST)
    [request] = result.events
    assert isinstance(request, Request)
    assert result.state is State.ACCEPTING


def test_client_refuses_a_response_head_over_max_header_size(
    feed_all_ways: Callable[..., Any],
) -> None:
    result = feed_all_ways(
        lambda: ClientProtocol("ws://h/", limits=Limits(max_header_size=100)),
        b"HTTP/1.1 101 Switching Protocols\r\nX-Padding: " + b"a" * 200,
    )
    result.assert_failed(
        InvalidResponse, "malformed HTTP response: Receive buffer too long", sent=[]
    )


@pytest.mark.parametrize("side", ["client", "server"])
def test_a_frame_at_max_frame_size_is_accepted_and_one_byte_more_is_not(
    open_protocol: Callable[..., Protocol], side: str
) -> None:
    protocol = open_protocol(side, Limits(max_frame_size=300, max_message_size=1000))
    protocol.receive_data(b"\x85\x7e\x01\x2c" + b"a" * 300)
    assert protocol.events_received() == [BinaryMessage(b"a" * 300)]
    protocol.receive_data(b"\x85\x7e\x01\x2d")
    [closed] = protocol.events_received()
    assert isinstance(closed, Closed)
    assert isinstance(closed.error, PayloadTooBig)
    assert (closed.error.what, closed.error.size, closed.error.limit) == ("frame", 301, 300)
    reason = b"frame of 301 bytes exceeds the limit of 300 bytes"
    assert protocol.data_to_send() == [bytes([0x81, len(reason)]) + reason, SEND_EOF]


@pytest.mark.parametrize("side", ["client", "server"])
def test_a_single_frame_message_over_max_message_size_is_refused(
    open_protocol: Callable[..., Protocol], side: str
) -> None:
    protocol = open_protocol(side, Limits(max_frame_size=1000, max_message_size=10))
    protocol.receive_data(b"\x84\x0a0123456789")
    assert protocol.events_received() == [TextMessage("0123456789")]
    protocol.receive_data(b"\x84\x0b0123456789a")
    [closed] = protocol.events_received()
    assert isinstance(closed, Closed)
    assert isinstance(closed.error, PayloadTooBig)
    assert str(closed.error) == "message of 11 bytes exceeds the limit of 10 bytes"
    assert protocol.state is State.CLOSED


@pytest.mark.parametrize("side", ["client", "server"])
def test_a_fragmented_message_may_reach_max_message_size_but_not_pass_it(
    open_protocol: Callable[..., Protocol], side: str
) -> None:
    protocol = open_protocol(side, Limits(max_frame_size=4, max_message_size=10))
    protocol.receive_data(b"\x05\x04abcd\x00\x04efgh\x80\x02ij")
    assert protocol.events_received() == [BinaryMessage(b"abcdefghij")]
    # The count starts again with each message; control frames do not count.
    protocol.receive_data(b"\x05\x04abcd\x82\x04ping\x00\x04efgh\x80\x03ijk")
    events = protocol.events_received()
    assert events[0] == Ping(b"ping")
    assert isinstance(events[-1], Closed)
    assert str(events[-1].error) == "message of 11 bytes exceeds the limit of 10 bytes"


@pytest.mark.parametrize("side", ["client", "server"])
def test_fragment_size_bounds_every_outgoing_frame(
    open_protocol: Callable[..., Protocol], side: str
) -> None:
    protocol = open_protocol(side, Limits(fragment_size=4))
    protocol.send_binary(b"abcdefghij")
    protocol.send_text("abcd")
    assert protocol.data_to_send() == [
        b"\x05\x04abcd",
        b"\x00\x04efgh",
        b"\x80\x02ij",
        b"\x84\x04abcd",
    ]


@pytest.mark.parametrize("side", ["client", "server"])
def test_max_message_size_may_be_raised_above_max_frame_size(
    open_protocol: Callable[..., Protocol], side: str
) -> None:
    protocol = open_protocol(side, Limits(max_frame_size=2, max_message_size=2**63 - 1))
    protocol.receive_data(b"\x04\x02ab" + b"\x00\x02cd" * 100 + b"\x80\x00")
    assert protocol.events_received() == [TextMessage("ab" + "cd" * 100)]
