from __future__ import annotations

import pytest

from chat_service.messages import Say, parse, room_event, welcome
from servicekit import ClientError


@pytest.mark.parametrize(
    "payload",
    [
        "hello everyone",
        "",
        "  spaced  ",
        "42",
        '"quoted"',
        "[1, 2]",
        "null",
        "{not json",
        "[" * 100_000,
    ],
)
def test_a_payload_that_is_not_a_json_object_is_said_in_the_lobby(payload: str) -> None:
    assert parse(payload) == Say(text=payload, room="lobby")


def test_a_say_names_its_text_and_room() -> None:
    assert parse('{"type": "say", "text": "hi", "room": "lobby"}') == Say(text="hi", room="lobby")
    assert parse('{"type": "say", "text": "hi", "room": "attic"}') == Say(text="hi", room="attic")


def test_a_say_without_room_is_in_the_lobby() -> None:
    assert parse('{"type": "say", "text": "hi"}') == Say(text="hi", room="lobby")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{}", "missing type"),
        ('{"text": "hi"}', "missing type"),
        ('{"type": "shout", "text": "hi"}', "unknown type 'shout'"),
        ('{"type": 7}', "unknown type 7"),
        ('{"type": "' + "x" * 100 + '"}', "unknown type '" + "x" * 39),
        ('{"type": "say"}', "say needs a text string"),
        ('{"type": "say", "text": 5}', "say needs a text string"),
        ('{"type": "say", "text": "hi", "room": null}', "room must be a string"),
    ],
)
def test_any_other_json_object_is_a_bad_request(payload: str, message: str) -> None:
    with pytest.raises(ClientError) as exc_info:
        parse(payload)
    assert exc_info.value.code == "bad_request"
    assert exc_info.value.message == message


def test_welcome_is_as_documented() -> None:
    assert list(welcome("alice", "lobby").items()) == [
        ("type", "welcome"),
        ("nick", "alice"),
        ("room", "lobby"),
    ]


def test_room_events_are_as_documented() -> None:
    join = room_event("join", room="lobby", nick="bob", seq=7, ts=1.5)
    assert list(join.items()) == [
        ("type", "join"),
        ("room", "lobby"),
        ("nick", "bob"),
        ("seq", 7),
        ("ts", 1.5),
    ]
    message = room_event("message", room="lobby", nick="alice", seq=8, ts=2.5, text="hello")
    assert list(message.items()) == [
        ("type", "message"),
        ("room", "lobby"),
        ("nick", "alice"),
        ("text", "hello"),
        ("seq", 8),
        ("ts", 2.5),
    ]
    leave = room_event("leave", room="lobby", nick="bob", seq=9, ts=3.5)
    assert list(leave) == ["type", "room", "nick", "seq", "ts"]
