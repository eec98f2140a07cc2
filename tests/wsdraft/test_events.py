"""Tests of wsdraft.events: immutable value objects, and the Event union."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from wsdraft import (
    BinaryMessage,
    Closed,
    ConnectionLost,
    Event,
    FramingError,
    Opened,
    Ping,
    Pong,
    Request,
    TextMessage,
)

REQUEST = Request(
    resource="/demo",
    host="example.com",
    origin="http://example.com",
    subprotocol=None,
    headers=(("host", "example.com"),),
)
EVENTS = [
    REQUEST,
    Opened(subprotocol="sample"),
    TextMessage("Hello"),
    BinaryMessage(b"Hello"),
    Ping(b"Hello"),
    Pong(b"Hello"),
    Closed(body=b"bye"),
]


def test_event_is_the_union_of_every_event_type() -> None:
    assert typing.get_args(Event) == (
        Request,
        Opened,
        TextMessage,
        BinaryMessage,
        Ping,
        Pong,
        Closed,
    )


@pytest.mark.parametrize("event", EVENTS, ids=lambda event: type(event).__name__)
def test_events_are_immutable(event: Event) -> None:
    field = dataclasses.fields(event)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(event, field, None)


@pytest.mark.parametrize("event", EVENTS, ids=lambda event: type(event).__name__)
def test_events_compare_and_hash_by_value(event: Event) -> None:
    copy = dataclasses.replace(event)
    assert copy == event
    assert hash(copy) == hash(event)


@pytest.mark.parametrize("event_type", [Request, Opened, Closed])
def test_events_with_several_fields_take_keyword_arguments_only(event_type: type) -> None:
    with pytest.raises(TypeError):
        event_type(None)


def test_closed_defaults_to_a_clean_close_without_body() -> None:
    closed = Closed()
    assert closed.body == b""
    assert closed.error is None
    assert closed.clean


def test_closed_with_an_error_is_not_clean() -> None:
    error = FramingError("reserved opcode 0x6")
    closed = Closed(error=error)
    assert not closed.clean
    assert closed.error is error
    assert Closed(body=b"x", error=ConnectionLost("gone")).body == b"x"


def test_message_events_keep_their_data() -> None:
    assert TextMessage("\U0001f600").data == "\U0001f600"
    assert BinaryMessage(b"\x00\xff").data == b"\x00\xff"
    assert Ping(b"p").data == b"p"
    assert Pong(b"").data == b""
    assert TextMessage("a") != BinaryMessage(b"a")
    assert Ping(b"a") != Pong(b"a")
