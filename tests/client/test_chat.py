"""The pure parts of ``wslab chat``: commands, rendering, seqs, line editing."""

from __future__ import annotations

import json

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
    parse_line,
    render,
)
from client.lineedit import CLEAR_LINE, LineEditor, above_input, input_line


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


def test_a_blank_line_is_no_command() -> None:
    assert parse_line("") is None
    assert parse_line("   ") is None


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


def test_control_characters_in_peer_text_are_escaped() -> None:
    event = {
        "type": "message",
        "room": "lob\x1bby",
        "nick": "mal\rlory",
        "text": "two\nlines\x1b[2J\x07\x9b",
    }
    assert render(event) == "[lob\\x1bby] <mal\\rlory> two\\nlines\\x1b[2J\\x07\\x9b"
    private = {"type": "private", "from": "x\x1b]0;t\x07", "to": "a", "text": "\x00"}
    assert render(private) == "(private) <x\\x1b]0;t\\x07> \\x00"


def event(kind: str, seq: int, room: str = "lobby", **fields: object) -> dict[str, object]:
    return {"type": kind, "room": room, "nick": "bob", **fields, "seq": seq, "ts": 1.5}


def receive(state: ChatState, message: dict[str, object]) -> list[str]:
    return state.receive(json.dumps(message))


def test_the_state_shows_each_room_event_once_even_when_a_history_repeats_it() -> None:
    state = ChatState("alice", "lobby")
    assert receive(state, event("join", 7)) == ["* bob joined lobby"]
    history = {
        "type": "history",
        "room": "lobby",
        "events": [event("message", 6, text="earlier"), event("join", 7), event("leave", 8)],
    }
    assert receive(state, history) == ["[lobby] <bob> earlier", "* bob left lobby"]
    assert receive(state, event("leave", 8)) == []
    assert receive(state, event("message", 8, room="dev", text="other room")) == [
        "[dev] <bob> other room"
    ]
    assert (state.seqs.last("lobby"), state.seqs.last("dev")) == (8, 8)


def test_the_state_shows_the_first_welcome_only_and_takes_its_nick() -> None:
    state = ChatState("alice", "lobby")
    welcome = {"type": "welcome", "nick": "alice-2", "room": "lobby"}
    assert receive(state, welcome) == ["* you are alice-2, in lobby"]
    assert receive(state, welcome) == []
    assert state.nick == "alice-2"


def test_the_state_shows_text_that_is_not_json_escaped_and_events_without_seq_as_they_come() -> (
    None
):
    state = ChatState("alice", "lobby")
    assert state.receive("plain\ttext\x1b") == ["plain\ttext\\x1b"]
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
    state = ChatState("alice", "lobby")
    assert state.message_for(Say("hi")) == {"type": "say", "room": "lobby", "text": "hi"}
    assert state.message_for(Join("dev")) == {"type": "join", "room": "dev"}
    state.apply(Join("dev"))
    assert state.current == "dev"
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
    state.apply(Join("dev"))
    assert state.message_for(Join("lobby")) is None  # already in it: only switch to it
    state.apply(Join("lobby"))
    assert (state.current, state.rooms) == ("lobby", ["dev", "lobby"])
    state.apply(Leave("dev"))
    state.apply(Leave("lobby"))
    with pytest.raises(NotInRoom, match="/join ROOM first"):
        state.message_for(Say("anyone?"))


def test_resuming_reopens_the_first_room_since_its_last_seq_and_rejoins_the_others() -> None:
    state = ChatState("alice", "lobby")
    for command in (Join("dev"), Join("ops")):
        state.apply(command)
    receive(state, event("message", 41, text="last seen"))
    receive(state, event("join", 3, room="dev"))
    url, messages = state.resume("ws://localhost:4502/", "lobby")
    assert url == "ws://localhost:4502/chat?nick=alice&room=lobby&since=41"
    assert messages == [
        {"type": "join", "room": "dev"},
        {"type": "history", "room": "dev", "since": 3},
        {"type": "join", "room": "ops"},
    ]


def test_the_chat_url_encodes_nick_and_room() -> None:
    assert chat_url("ws://h:1", "a b", "r&d") == "ws://h:1/chat?nick=a+b&room=r%26d"


def test_the_chat_url_may_name_the_chat_already() -> None:
    assert chat_url("ws://h:1/chat/", "a", "r") == "ws://h:1/chat?nick=a&room=r"


def test_the_line_editor_collects_printable_characters_and_submits_on_enter() -> None:
    editor = LineEditor()
    assert editor.feed("héllo") == []
    assert editor.buffer == "héllo"
    assert editor.feed(" you\rnext\n") == ["héllo you", "next"]
    assert editor.buffer == ""


def test_the_line_editor_erases_characters_words_and_lines() -> None:
    editor = LineEditor()
    editor.feed("hello wrld\x7f\x7f\x08orld")
    assert editor.buffer == "hello world"
    editor.feed("\x17")
    assert editor.buffer == "hello "
    editor.feed("\x17")
    assert editor.buffer == ""
    editor.feed("gone\x15kept")
    assert editor.buffer == "kept"


def test_the_line_editor_ignores_escape_sequences_even_split_and_other_controls() -> None:
    editor = LineEditor()
    assert editor.feed("a\x1b[D\x1b[1;5") == []
    assert editor.feed("Cb\x1bOPc\x1bxd\t\x07\x00e") == []
    assert editor.buffer == "abcde"


def test_ctrl_d_ends_the_input_only_on_an_empty_line() -> None:
    editor = LineEditor()
    assert editor.feed("typing\x04") == []
    assert editor.feed("\x15\x04ignored") == [None]


def test_the_input_line_shows_the_prompt_and_the_end_of_a_long_input() -> None:
    assert input_line("lobby> ", "hi", 80) == f"{CLEAR_LINE}lobby> hi"
    assert input_line("lobby> ", "abcdefghij", 12) == f"{CLEAR_LINE}lobby> ghij"
    assert input_line("a-very-long-prompt> ", "xyz", 10) == f"{CLEAR_LINE}a-very-long-prompt> z"


def test_a_line_received_replaces_the_input_line_which_is_redrawn_below() -> None:
    assert above_input("[lobby] <bob> hi", "lobby> ", "half typ", 80) == (
        f"{CLEAR_LINE}[lobby] <bob> hi\n{CLEAR_LINE}lobby> half typ"
    )
