from __future__ import annotations

import json

import pytest

from chat_service.messages import (
    HistoryRequest,
    Join,
    Leave,
    Private,
    RoomEvent,
    RoomsRequest,
    Say,
    event_template,
    history,
    members,
    parse,
    parse_since,
    private,
    resync,
    room_event,
    rooms,
    welcome,
)
from servicekit import ClientError, encode


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
        " {not json",
        "[" * 100_000,
    ],
)
def test_a_payload_that_is_not_a_json_object_is_said_in_the_first_room(payload: str) -> None:
    assert parse(payload) == Say(text=payload, room=None)


@pytest.mark.parametrize("payload", ["{not json", "{", '{"type": "say"', "{" * 100_000])
def test_a_payload_starting_with_a_brace_that_is_not_json_is_bad_json(payload: str) -> None:
    with pytest.raises(ClientError) as exc_info:
        parse(payload)
    assert exc_info.value.code == "bad_json"
    assert exc_info.value.message == "this is not valid JSON"


def test_a_say_names_its_text_and_room() -> None:
    assert parse('{"type": "say", "text": "hi", "room": "lobby"}') == Say(text="hi", room="lobby")
    assert parse('{"type": "say", "text": "hi", "room": "attic"}') == Say(text="hi", room="attic")


def test_a_say_without_room_is_in_the_first_room() -> None:
    assert parse('{"type": "say", "text": "hi"}') == Say(text="hi", room=None)


def test_join_leave_rooms_and_private_are_parsed() -> None:
    assert parse('{"type": "join", "room": "dev"}') == Join(room="dev")
    assert parse('{"type": "leave", "room": "dev-2_x"}') == Leave(room="dev-2_x")
    assert parse('{"type": "rooms"}') == RoomsRequest()
    assert parse('{"type": "private", "to": "bob", "text": "psst"}') == Private(
        to="bob", text="psst", room=None
    )
    assert parse('{"type": "private", "room": "dev", "to": "bob", "text": "x"}') == Private(
        to="bob", text="x", room="dev"
    )


@pytest.mark.parametrize("room", ["", "a b", "caf\u00e9", "x" * 33, "a:b", "a.b"])
def test_an_invalid_room_name_is_a_bad_request(room: str) -> None:
    for kind in ("join", "leave", "say"):
        with pytest.raises(ClientError) as exc_info:
            parse(f'{{"type": "{kind}", "room": "{room}", "text": "hi"}}')
        assert exc_info.value.code == "bad_request"
        assert exc_info.value.message == "room names are 1 to 32 letters, digits, _ or -"


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
        ('{"type": "history", "room": 1}', "room must be a string"),
        ('{"type": "join"}', "join needs a room"),
        ('{"type": "leave"}', "leave needs a room"),
        ('{"type": "join", "room": 5}', "room must be a string"),
        ('{"type": "private", "text": "hi"}', "private needs a to string"),
        ('{"type": "private", "to": "bob"}', "private needs a text string"),
        ('{"type": "history", "since": -1}', "since must be a non-negative integer"),
        ('{"type": "history", "since": "41"}', "since must be a non-negative integer"),
        ('{"type": "history", "since": 4.5}', "since must be a non-negative integer"),
        ('{"type": "history", "since": 41.0}', "since must be a non-negative integer"),
        ('{"type": "history", "since": true}', "since must be a non-negative integer"),
        ('{"type": "history", "since": null}', "since must be a non-negative integer"),
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


def test_a_history_request_names_its_since_and_room() -> None:
    assert parse('{"type": "history", "room": "lobby", "since": 41}') == HistoryRequest(
        since=41, room="lobby"
    )
    assert parse('{"type": "history", "since": 0}') == HistoryRequest(since=0, room=None)


def test_a_history_request_without_since_asks_for_the_last_events() -> None:
    assert parse('{"type": "history"}') == HistoryRequest(since=None, room=None)


def test_since_in_the_query_is_decimal_digits() -> None:
    assert parse_since("0") == 0
    assert parse_since("41") == 41
    assert parse_since("007") == 7


@pytest.mark.parametrize("value", ["", "-1", "+1", "1.5", " 1", "abc", "\u0664\u0662", "0x10"])
def test_any_other_since_in_the_query_is_a_bad_request(value: str) -> None:
    with pytest.raises(ClientError) as exc_info:
        parse_since(value)
    assert exc_info.value.code == "bad_request"
    assert exc_info.value.message == "since must be a non-negative integer"


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("join", None),
        ("leave", None),
        ("message", "hello"),
        ("message", '"seq": 0, "ts": 1, seq'),
        ("message", "caf\u00e9 \ud800"),  # A lone surrogate is escaped, as encode() does.
    ],
)
def test_an_event_template_with_its_seq_is_the_encoded_event(
    kind: RoomEvent, text: str | None
) -> None:
    ts = 1732492800.123456
    before, after = event_template(kind, room="lobby", nick="bob", ts=ts, text=text)
    expected = encode(room_event(kind, room="lobby", nick="bob", seq=1234, ts=ts, text=text))
    assert before + "1234" + after == expected
    assert json.loads(before + "1234" + after)["ts"] == ts


def test_resync_is_as_documented() -> None:
    assert list(resync("lobby", 42).items()) == [
        ("type", "resync"),
        ("room", "lobby"),
        ("from", 42),
    ]


def test_history_holds_the_events_as_they_are() -> None:
    events = [
        encode(room_event("join", room="lobby", nick="bob", seq=7, ts=1.25)),
        encode(room_event("message", room="lobby", nick="bob", seq=8, ts=2.5, text="hi")),
    ]
    text = history("lobby", events)
    assert text == (
        '{"type": "history", "room": "lobby", "events": [' + events[0] + ", " + events[1] + "]}"
    )
    assert json.loads(text)["events"] == [json.loads(event) for event in events]


def test_an_empty_history_is_an_empty_list() -> None:
    assert json.loads(history("lobby", [])) == {"type": "history", "room": "lobby", "events": []}


def test_members_are_sorted() -> None:
    assert list(members("lobby", ["bob", "alice"]).items()) == [
        ("type", "members"),
        ("room", "lobby"),
        ("members", ["alice", "bob"]),
    ]


def test_rooms_lists_the_rooms_with_members_sorted() -> None:
    assert rooms([("dev", 1), ("lobby", 2), ("empty", 0)]) == {
        "type": "rooms",
        "rooms": [{"room": "dev", "members": 1}, {"room": "lobby", "members": 2}],
    }


def test_private_is_as_documented() -> None:
    message = private(room="lobby", sender="alice", to="bob", text="psst", ts=1.5)
    assert list(message.items()) == [
        ("type", "private"),
        ("room", "lobby"),
        ("from", "alice"),
        ("to", "bob"),
        ("text", "psst"),
        ("ts", 1.5),
    ]
