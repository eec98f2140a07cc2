"""The pure parts of ``wslab chat``: commands, rendering, seqs, the rooms the server confirms."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from client.chat import (
    ChatState,
    Join,
    Leave,
    ListRooms,
    Note,
    NotInRoom,
    Private,
    Quit,
    Say,
    SeqTracker,
    chat_url,
    is_valid_name,
    parse_line,
    render,
    stamped,
)


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC, so that times shown are the same on every machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("hello everyone", Say("hello everyone")),
        ("  spaced  ", Say("  spaced  ")),
        ("//not a command", Say("/not a command")),
        ("/join dev", Join("dev")),
        ("/leave dev", Leave("dev")),
        ("/leave", Leave()),
        ("/rooms", ListRooms()),
        ("/msg bob  psst, over here ", Private("bob", "psst, over here")),
        ("/quit", Quit()),
    ],
)
def test_a_typed_line_is_said_unless_it_is_a_slash_command(line: str, command: object) -> None:
    assert parse_line(line) == command


@pytest.mark.parametrize("line", ["", "   ", "\t", " \x00 ", "\x1b", "\u200b", "\u3000"])
def test_a_line_that_shows_nothing_is_no_command(line: str) -> None:
    assert parse_line(line) is None


@pytest.mark.parametrize("name", ["lobby", "team-red", "a_1", "A" * 32])
def test_names_of_letters_digits_underscores_and_hyphens_are_valid(name: str) -> None:
    assert is_valid_name(name)


@pytest.mark.parametrize("name", ["", "bad room", "Bad!Room", "A" * 33, "café", "a\n"])
def test_other_names_are_not(name: str) -> None:
    assert not is_valid_name(name)


@pytest.mark.parametrize("line", ["/join Bad!Room", "/leave bad!room", "/join a\x1b[2Jb"])
def test_a_room_that_is_not_a_room_name_is_refused_before_sending(line: str) -> None:
    command = parse_line(line)
    assert isinstance(command, Note)
    assert command.text.endswith(
        " is not a room name: room names are 1 to 32 letters, digits, _ or -"
    )
    assert "\x1b" not in command.text


@pytest.mark.parametrize(
    ("line", "note"),
    [
        ("/join", "! usage: /join ROOM"),
        ("/join a b", "! usage: /join ROOM"),
        ("/leave a b", "! usage: /leave [ROOM]"),
        ("/msg bob", "! usage: /msg NICK TEXT"),
        ("/rooms now", "! usage: /rooms"),
        ("/quit now", "! usage: /quit"),
    ],
)
def test_a_slash_command_with_wrong_arguments_shows_its_usage(line: str, note: str) -> None:
    assert parse_line(line) == Note(note)


def test_an_unknown_slash_command_lists_the_commands_with_its_name_escaped() -> None:
    command = parse_line("/dance\x1b[2J")
    assert isinstance(command, Note)
    assert command.text.startswith("! unknown command /dance\\x1b[2J; commands: /join ROOM, ")
    help_note = parse_line("/help")
    assert isinstance(help_note, Note)
    assert help_note.text.startswith("* commands: ")


@pytest.mark.parametrize(
    ("event", "line"),
    [
        ({"type": "welcome", "nick": "alice", "room": "lobby"}, "* you are alice, in lobby"),
        (
            {"type": "message", "room": "lobby", "nick": "bob", "text": "hello", "seq": 8},
            "[lobby] <bob> hello",
        ),
        ({"type": "join", "room": "lobby", "nick": "bob", "seq": 7}, "* bob joined lobby"),
        ({"type": "leave", "room": "lobby", "nick": "bob", "seq": 9}, "* bob left lobby"),
        (
            {"type": "private", "room": "lobby", "from": "bob", "to": "alice", "text": "psst"},
            "(private) <bob> psst",
        ),
        (
            {"type": "private", "room": "lobby", "from": "alice", "to": "bob", "text": "hi"},
            "(private to bob) <alice> hi",
        ),
        (
            {"type": "members", "room": "dev", "members": ["alice", "bob"]},
            "* in dev: alice, bob",
        ),
        ({"type": "members", "room": "dev", "members": []}, "* in dev: nobody"),
        (
            {
                "type": "rooms",
                "rooms": [{"room": "dev", "members": 1}, {"room": "lobby", "members": 3}],
            },
            "* rooms: dev (1), lobby (3)",
        ),
        ({"type": "rooms", "rooms": []}, "* rooms: none"),
        (
            {"type": "resync", "room": "lobby", "from": 5},
            "! some messages in lobby were lost: its history resumes at seq 5",
        ),
        (
            {"type": "error", "code": "too_long", "message": "at most 1000 characters"},
            "! error: too_long: at most 1000 characters",
        ),
        ({"type": "surprise", "n": 1}, '{"type": "surprise", "n": 1}'),
        ({"type": "message", "room": "lobby"}, "[lobby] <?> ?"),
    ],
)
def test_each_event_renders_as_one_readable_line(event: dict[str, object], line: str) -> None:
    assert render(event, me="alice") == line


def test_control_characters_in_peer_text_are_escaped_tabs_included() -> None:
    event = {
        "type": "message",
        "room": "lob\x1bby",
        "nick": "mal\rlory",
        "text": "two\nlines\x1b[2J\x07\x9b",
    }
    assert render(event) == "[lob\\x1bby] <mal\\rlory> two\\nlines\\x1b[2J\\x07\\x9b"
    assert render(event | {"text": "col1\tcol2"}) == "[lob\\x1bby] <mal\\rlory> col1\\tcol2"
    private = {"type": "private", "from": "x\x1b]0;t\x07", "to": "a", "text": "\x00"}
    assert render(private) == "(private) <x\\x1b]0;t\\x07> \\x00"


def event(kind: str, seq: int, room: str = "lobby", **fields: object) -> dict[str, object]:
    return {"type": kind, "room": room, "nick": "bob", "seq": seq, "ts": 1.5, **fields}


def receive(state: ChatState, message: dict[str, object]) -> list[str]:
    return state.receive(json.dumps(message))


def members(room: str, *nicks: str) -> dict[str, object]:
    return {"type": "members", "room": room, "members": sorted(nicks)}


def joined(*rooms: str, nick: str = "alice") -> ChatState:
    """A state that connected to the first of ``rooms`` and joined the others."""
    state = ChatState(nick)
    state.resume("ws://h:1", rooms[0])
    for room in rooms[1:]:
        state.expect({"type": "join", "room": room})
    for room in rooms:
        receive(state, members(room, nick))
    assert (state.rooms, state.awaited) == (list(rooms), [])
    return state


def test_history_shows_its_new_events_once_with_their_times_between_markers(utc: None) -> None:
    state = joined("lobby")
    assert receive(state, event("join", 7)) == ["* bob joined lobby"]
    history = {
        "type": "history",
        "room": "lobby",
        "events": [
            event("message", 6, text="earlier", ts=60.0),
            event("join", 7),
            event("leave", 8, ts=3600.0),
        ],
    }
    assert receive(state, history) == [
        "-- history of lobby --",
        "[00:01] [lobby] <bob> earlier",
        "[01:00] * bob left lobby",
        "-- live --",
    ]
    assert receive(state, history) == []  # a join or a reconnection brings it again
    assert receive(state, event("leave", 8)) == []
    assert receive(state, event("message", 8, room="dev", text="other room")) == [
        "[dev] <bob> other room"
    ]
    assert (state.seqs.last("lobby"), state.seqs.last("dev")) == (8, 8)


def test_live_events_show_their_times_with_timestamps(utc: None) -> None:
    state = ChatState("alice", timestamps=True)
    assert receive(state, event("message", 1, text="hi", ts=90.0)) == ["[00:01] [lobby] <bob> hi"]
    private = {"type": "private", "from": "bob", "to": "alice", "text": "psst", "ts": 7200.0}
    assert receive(state, private) == ["[02:00] (private) <bob> psst"]
    assert receive(state, members("lobby", "bob")) == ["* in lobby: bob"]


@pytest.mark.parametrize("ts", [None, "noon", True, float("nan"), 1e300])
def test_an_event_without_a_valid_time_shows_without_one(ts: object) -> None:
    assert stamped({"ts": ts}, "line") == "line"


def test_the_state_shows_the_first_welcome_only_and_takes_its_nick() -> None:
    state = ChatState("alice")
    welcome = {"type": "welcome", "nick": "alice-2", "room": "lobby"}
    assert receive(state, welcome) == ["* you are alice-2, in lobby"]
    assert receive(state, welcome) == []
    assert state.nick == "alice-2"


def test_the_state_shows_text_that_is_not_json_escaped_and_events_without_seq_as_they_come() -> (
    None
):
    state = ChatState("alice")
    assert state.receive("plain\ttext\x1b") == ["plain\\ttext\\x1b"]
    error = {"type": "error", "code": "not_member", "message": "you are not in dev"}
    assert (
        receive(state, error)
        == receive(state, error)
        == ["! error: not_member: you are not in dev"]
    )


def test_the_seq_tracker_remembers_the_highest_seq_and_a_window_below_it() -> None:
    seqs = SeqTracker(window=3)
    assert seqs.last("lobby") is None
    assert [seqs.see("lobby", seq) for seq in (5, 3, 5, 4, 10)] == [True, True, False, True, True]
    assert seqs.last("lobby") == 10
    assert [seqs.see("lobby", seq) for seq in (7, 8, 9, 10)] == [False, True, True, False]


def test_typed_commands_become_messages_in_the_current_room() -> None:
    state = joined("lobby", "dev")
    assert state.message_for(Say("hi")) == {"type": "say", "room": "dev", "text": "hi"}
    assert state.message_for(Join("ops")) == {"type": "join", "room": "ops"}
    assert state.message_for(Private("bob", "psst")) == {
        "type": "private",
        "room": "dev",
        "to": "bob",
        "text": "psst",
    }
    assert state.message_for(ListRooms()) == {"type": "rooms"}
    assert state.message_for(Leave()) == {"type": "leave", "room": "dev"}
    state.apply(Leave())
    assert state.current == "lobby"
    assert state.message_for(Join("lobby")) is None  # already in it: only switch to it
    state = joined("lobby", "dev")
    state.apply(Join("lobby"))
    assert (state.current, state.rooms) == ("lobby", ["dev", "lobby"])
    state.apply(Leave("dev"))
    state.apply(Leave("lobby"))
    with pytest.raises(NotInRoom, match="/join ROOM first"):
        state.message_for(Say("anyone?"))


def test_a_room_is_joined_only_once_the_server_confirms_it() -> None:
    state = joined("lobby")
    state.expect({"type": "join", "room": "dev"})
    state.apply(Join("dev"))
    assert state.current == "lobby"
    assert receive(state, members("other", "carol")) == ["* in other: carol"]
    assert state.current == "lobby"
    receive(state, event("join", 3, room="dev", nick="alice"))  # our own join, live
    assert (state.current, state.awaited) == ("dev", [])
    state.expect({"type": "join", "room": "ops"})
    receive(state, members("ops", "alice", "bob"))
    assert state.rooms == ["lobby", "dev", "ops"]


def test_a_join_the_server_refuses_leaves_the_current_room_as_it_was() -> None:
    state = joined("lobby")
    state.expect({"type": "join", "room": "team-red"})
    state.apply(Join("team-red"))
    forbidden = {"type": "error", "code": "forbidden", "message": "not for your token"}
    assert receive(state, forbidden) == ["! error: forbidden: not for your token"]
    assert (state.rooms, state.awaited) == (["lobby"], [])
    receive(state, members("team-red", "alice"))  # no join of ours awaits it
    assert state.rooms == ["lobby"]


def test_connecting_awaits_the_join_of_the_first_room() -> None:
    state = ChatState("alice")
    state.resume("ws://h:1", "ops")
    assert (state.current, state.awaited) == (None, [{"type": "join", "room": "ops"}])
    taken = {"type": "error", "code": "nick_taken", "message": "someone else is called 'alice'"}
    receive(state, taken)
    assert (state.current, state.awaited) == (None, [])


def test_each_message_sent_awaits_its_own_answer_but_a_leave() -> None:
    state = joined("lobby")
    sent: list[dict[str, object]] = [
        {"type": "say", "room": "lobby", "text": "hi"},
        {"type": "private", "room": "lobby", "to": "bob", "text": "psst"},
        {"type": "rooms"},
        {"type": "leave", "room": "lobby"},
    ]
    for message in sent:
        state.expect(message)
    assert state.awaited == sent[:3]
    answers = [
        {"type": "rooms", "rooms": []},
        event("message", 2, text="hi"),  # bob's
        {"type": "private", "room": "lobby", "from": "alice", "to": "bob", "text": "psst"},
        event("message", 3, text="hi", nick="alice"),
    ]
    remaining = [sent[:2], sent[:2], sent[:1], []]
    for answer, awaited in zip(answers, remaining, strict=True):
        receive(state, answer)
        assert state.awaited == awaited


def test_resuming_reopens_the_first_room_since_its_last_seq_and_rejoins_the_others() -> None:
    state = joined("lobby", "dev", "ops")
    receive(state, event("message", 41, text="last seen"))
    receive(state, event("join", 3, room="dev"))
    url, messages = state.resume("ws://localhost:4502/", "lobby")
    assert url == "ws://localhost:4502/chat?nick=alice&room=lobby&since=41"
    assert messages == [
        {"type": "join", "room": "dev"},
        {"type": "history", "room": "dev", "since": 3},
        {"type": "join", "room": "ops"},
    ]
    assert state.awaited == [{"type": "join", "room": "lobby"}, *messages]


def test_the_chat_url_encodes_nick_and_room() -> None:
    assert chat_url("ws://h:1", "a b", "r&d") == "ws://h:1/chat?nick=a+b&room=r%26d"


def test_the_chat_url_may_name_the_chat_already() -> None:
    assert chat_url("ws://h:1/chat/", "a", "r") == "ws://h:1/chat?nick=a&room=r"
