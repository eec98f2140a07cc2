"""``wslab chat`` end to end in a pipe, against the fake gateway (tests/client/fake_gateway.py)."""

from __future__ import annotations

import asyncio
import functools
import io
import itertools
import json
import os
import re
import threading
from collections.abc import Iterator

import pytest

from client.cli import Environment, ExitStatus, chat, main, reconnect
from tests.client.cli.running import Result, wslab
from tests.client.fake_gateway import FakeGateway
from tests.client.threaded import Gateway, in_thread
from tests.waiting import HANG, until_sync


class Running:
    """``wslab`` running in a thread, its standard input a pipe the test writes to."""

    def __init__(self, *args: str) -> None:
        read, self._write = os.pipe()
        self.env = Environment(
            stdin=os.fdopen(read, encoding="utf-8"), stdout=io.StringIO(), stderr=io.StringIO()
        )
        self.status: int | None = None
        self._thread = threading.Thread(target=self._run, args=(list(args),), daemon=True)
        self._thread.start()

    def _run(self, args: list[str]) -> None:
        self.status = main(args, self.env)

    @property
    def stdout(self) -> str:
        return self.env.stdout.getvalue()  # type: ignore[attr-defined,no-any-return]

    def wait_for(self, line: str, *, prefix: bool = False) -> None:
        """Wait until ``line`` (or a line starting with it) was printed."""

        def printed() -> bool:
            lines = self.stdout.splitlines()
            return any(got.startswith(line) for got in lines) if prefix else line in lines

        until_sync(printed, f"wslab chat to print {line!r}")

    def wait_for_text(self, text: str) -> None:
        """Wait until ``text`` was printed, in a line or across lines."""
        until_sync(lambda: text in self.stdout, f"wslab chat to print {text!r}")

    def type(self, text: str) -> None:
        os.write(self._write, text.encode())

    def finish(self) -> Result:
        """Close standard input and wait for the command to exit."""
        os.close(self._write)
        until_sync(lambda: not self._thread.is_alive(), "wslab chat to exit")
        self.env.stdin.close()
        assert self.status is not None
        return Result(self.status, self.stdout, self.env.stderr.getvalue())  # type: ignore[attr-defined]


def reconnect_after(delay: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``wslab`` wait ``delay`` seconds before each reconnection, instead of backing off
    from half a second."""
    monkeypatch.setattr(reconnect, "backoff", lambda: itertools.repeat(delay))


def untimed(lines: list[str]) -> list[str]:
    """``lines`` with the time they start with, if any, as ``[time]``."""
    return [re.sub(r"^\[\d\d:\d\d\] ", "[time] ", line) for line in lines]


class Refusing(FakeGateway):
    """A fake gateway whose room ``vault`` is closed to everyone: joining it gets
    ``forbidden``, as a room a token does not let in does."""

    def command(
        self, writer: asyncio.StreamWriter, nick: str, message: dict[str, object]
    ) -> dict[str, object] | None:
        if message == {"type": "join", "room": "vault"}:
            return {"type": "error", "code": "forbidden", "message": "not for you"}
        return super().command(writer, nick, message)


class Slow(FakeGateway):
    """A fake gateway whose room events arrive a while after they are published, as they
    do through Redis and the chat service."""

    def publish(self, kind: str, room: str, nick: str, **fields: object) -> None:
        later = functools.partial(super().publish, kind, room, nick, **fields)
        asyncio.get_running_loop().call_later(0.2, later)


class Mute(FakeGateway):
    """A fake gateway that takes what is said and never answers it; ``said`` holds it."""

    def __init__(self) -> None:
        super().__init__()
        self.said: list[object] = []

    def command(
        self, writer: asyncio.StreamWriter, nick: str, message: dict[str, object]
    ) -> dict[str, object] | None:
        if message.get("type") == "say":
            self.said.append(message.get("text"))
            return None
        return super().command(writer, nick, message)


@pytest.fixture
def refusing() -> Iterator[Gateway]:
    with in_thread(Refusing()) as gateway:
        yield gateway


def test_chat_in_a_pipe_says_each_line_and_prints_events_as_readable_lines(
    gateway: Gateway,
) -> None:
    typed = "hello\n/join dev\n//slash\n/msg alice psst\n/rooms\n/leave dev\n/leave\n"
    result = wslab("chat", gateway.url, "--nick", "alice", stdin=typed)
    assert result == Result(
        ExitStatus.SUCCESS,
        "* you are alice, in lobby\n"
        "* alice joined lobby\n"
        "[lobby] <alice> hello\n"
        "* alice joined dev\n"
        "* in dev: alice\n"
        "[dev] <alice> /slash\n"
        "(private to alice) <alice> psst\n"
        "* rooms: lobby (1), dev (1)\n"
        "* alice left dev\n"
        "* alice left lobby\n",
        "",
    )


def test_chat_shows_mistakes_without_sending_them(gateway: Gateway) -> None:
    result = wslab("chat", gateway.url, "--nick", "bob", "--room", "ops", stdin="/dance\n")
    assert result.status == ExitStatus.SUCCESS
    assert "! unknown command /dance; commands: /join ROOM, " in result.stdout
    assert "* bob joined ops\n" in result.stdout


def test_chat_prints_each_message_as_received_with_json(gateway: Gateway) -> None:
    result = wslab("chat", gateway.url, "--nick", "carol", "--json", stdin="hi\n/msg nobody x\n")
    assert (result.status, result.stderr) == (ExitStatus.SUCCESS, "")
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    for message in messages:
        message.pop("ts", None)
    assert messages == [
        {"type": "welcome", "nick": "carol", "room": "lobby"},
        {"type": "join", "room": "lobby", "nick": "carol", "seq": 1},
        {"type": "message", "room": "lobby", "nick": "carol", "text": "hi", "seq": 2},
        {"type": "error", "code": "no_such_member", "message": "no one by that name"},
    ]


def test_chat_reconnects_after_a_drop_and_prints_the_messages_missed_once(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    reconnect_after(0, monkeypatch)
    chat = Running("chat", gateway.url, "--nick", "alice")
    chat.wait_for("* alice joined lobby")
    gateway.call(lambda: gateway.fake.publish("message", "lobby", "bob", text="before"))
    chat.wait_for("[lobby] <bob> before")

    def drop_and_talk() -> None:
        gateway.fake.drop("alice")
        for text in ("missed 1", "missed 2"):
            gateway.fake.publish("message", "lobby", "bob", text=text)

    gateway.call(drop_and_talk)
    chat.wait_for("-- live --")
    chat.type("back\n")
    chat.wait_for("[lobby] <alice> back")
    result = chat.finish()

    assert (result.status, result.stderr) == (ExitStatus.SUCCESS, "")
    lines = result.stdout.splitlines()
    notes = [line for line in lines if re.fullmatch(r"\* (connection|reconnecting) .*", line)]
    assert notes[0].startswith("* connection failed: ")
    assert notes[1] == "* reconnecting in 0.0 s"
    assert untimed([line for line in lines if line not in notes]) == [
        "* you are alice, in lobby",
        "* alice joined lobby",  # seq 1
        "[lobby] <bob> before",  # seq 2: the reconnection asks for what came since
        "* reconnected",
        "* alice joined lobby",  # seq 6, live, then again in the history: shown once
        "-- history of lobby --",
        "[time] * alice left lobby",  # seq 3
        "[time] [lobby] <bob> missed 1",
        "[time] [lobby] <bob> missed 2",
        "-- live --",
        "[lobby] <alice> back",
    ]
    assert gateway.fake.queries == [
        {"nick": ["alice"], "room": ["lobby"]},
        {"nick": ["alice"], "room": ["lobby"], "since": ["2"]},
    ]


def test_chat_tries_again_when_its_nick_is_still_taken_after_a_drop(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    reconnect_after(0, monkeypatch)
    chat = Running("chat", gateway.url, "--nick", "erin")
    chat.wait_for("* erin joined lobby")

    def drop_leaving_a_ghost() -> None:
        gateway.fake.ghosts["erin"] = 2
        gateway.fake.drop("erin")

    gateway.call(drop_leaving_a_ghost)
    until_sync(
        lambda: gateway.call(lambda: "erin" in gateway.fake.rooms["lobby"].values()),
        "erin to join lobby again",
    )
    gateway.call(lambda: gateway.fake.publish("message", "lobby", "bob", text="welcome back"))
    chat.wait_for("[lobby] <bob> welcome back")
    result = chat.finish()
    assert result.status == ExitStatus.SUCCESS
    assert result.stdout.count("* erin is still taken by the connection that dropped") == 2
    assert "nick_taken" not in result.stdout
    assert [query.get("since") for query in gateway.fake.queries] == [None, ["1"], ["1"], ["1"]]


def test_chat_rejoins_every_room_after_a_drop_and_asks_each_for_what_it_missed(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    reconnect_after(0, monkeypatch)
    chat = Running("chat", gateway.url, "--nick", "frank")
    chat.type("/join dev\nin dev\n")
    chat.wait_for("[dev] <frank> in dev")

    def drop_and_talk() -> None:
        gateway.fake.drop("frank")
        gateway.fake.publish("message", "dev", "bob", text="missed in dev")

    gateway.call(drop_and_talk)
    chat.wait_for_text("-- history of dev --\n")
    chat.type("still in dev\n")
    chat.wait_for("[dev] <frank> still in dev")
    result = chat.finish()
    assert result.status == ExitStatus.SUCCESS
    lines = untimed(result.stdout.splitlines())
    history = lines.index("-- history of dev --")
    assert lines[history + 1 : history + 4] == [
        "[time] * frank left dev",
        "[time] [dev] <bob> missed in dev",
        "-- live --",
    ]
    assert result.stdout.count("missed in dev") == 1


def test_chat_exits_0_when_standard_input_ends_while_reconnecting(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    reconnect_after(2 * HANG, monkeypatch)  # still waiting when the test gives up on it
    chat = Running("chat", gateway.url, "--nick", "gina")
    chat.wait_for("* gina joined lobby")
    gateway.call(lambda: gateway.fake.drop("gina"))
    chat.wait_for("* reconnecting in ", prefix=True)
    result = chat.finish()
    assert (result.status, result.stderr) == (ExitStatus.SUCCESS, "")


def test_chat_exits_1_when_the_connection_drops_with_no_reconnect(gateway: Gateway) -> None:
    chat = Running("chat", gateway.url, "--nick", "dave", "--no-reconnect")
    chat.wait_for("* dave joined lobby")
    gateway.call(lambda: gateway.fake.drop("dave"))
    result = chat.finish()
    assert result.status == ExitStatus.ERROR
    assert result.stderr.startswith("wslab: connection failed: ")


def test_chat_exits_3_when_it_cannot_connect_at_first() -> None:
    result = wslab("chat", "--no-proxy", "ws://127.0.0.1:1", "--nick", "erin", stdin="hi\n")
    assert result.status == ExitStatus.CONNECT_FAILED
    assert result.stderr.startswith("wslab: cannot connect to ws://127.0.0.1:1/chat?nick=erin&")


@pytest.mark.parametrize(
    ("option", "value", "error"),
    [
        ("--nick", "bad nick!", "argument --nick: 'bad nick!' is not a nickname: nicknames are "),
        ("--room", "bad room", "argument --room: 'bad room' is not a room name: room names are "),
        ("--nick", "x" * 33, "argument --nick: "),
    ],
)
def test_chat_refuses_a_bad_nick_or_room_before_connecting_with_status_2(
    option: str, value: str, error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["chat", "ws://127.0.0.1:1", "--nick", "alice", option, value]
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == ExitStatus.USAGE
    assert f"wslab chat: error: {error}" in capsys.readouterr().err


def test_a_url_that_is_not_one_is_named_as_typed_not_with_chat_added() -> None:
    result = wslab("chat", "lobby", "--nick", "ann")
    assert result.status == ExitStatus.USAGE
    assert result.stderr.startswith("wslab: lobby is not a valid WebSocket URL"), result.stderr


def test_chat_needs_a_nick_unless_a_token_names_its_user(gateway: Gateway) -> None:
    refused = wslab("chat", gateway.url)
    assert refused == Result(
        ExitStatus.USAGE, "", "wslab: --nick is required, unless --token names you\n"
    )
    # The token's subject is the nickname: the URL asks for none, and the welcome says it.
    result = wslab("chat", gateway.url, "--token", "a.b.c", "--no-proxy", stdin="hi\n")
    assert result.status == ExitStatus.SUCCESS
    assert "nick" not in gateway.fake.queries[-1]
    assert "[lobby] <guest-0001> hi" in result.stdout.splitlines()


def test_chat_refuses_to_join_a_bad_room_and_stays_in_the_current_one(gateway: Gateway) -> None:
    result = wslab("chat", gateway.url, "--nick", "hal", stdin="/join Bad!Room\nstill here\n")
    assert result.status == ExitStatus.SUCCESS
    assert result.stdout.splitlines()[2:] == [
        "! Bad!Room is not a room name: room names are 1 to 32 letters, digits, _ or -",
        "[lobby] <hal> still here",
    ]
    assert "Bad!Room" not in gateway.fake.rooms


def test_chat_changes_room_only_once_the_server_confirms_the_join(refusing: Gateway) -> None:
    typed = "/join vault\nstill in lobby\n/join dev\nin dev\n"
    result = wslab("chat", refusing.url, "--nick", "ida", stdin=typed)
    assert result.status == ExitStatus.SUCCESS
    assert result.stdout.splitlines()[2:] == [
        "! error: forbidden: not for you",
        "[lobby] <ida> still in lobby",
        "* ida joined dev",
        "* in dev: ida",
        "[dev] <ida> in dev",
    ]


def test_chat_exits_1_at_once_when_its_nick_is_taken(gateway: Gateway) -> None:
    gateway.fake.ghosts["jo"] = 1
    result = wslab("chat", gateway.url, "--nick", "jo", stdin="hi\nthere\n")
    assert result == Result(
        ExitStatus.ERROR,
        "* you are jo, in lobby\n! error: nick_taken: someone else is called 'jo'\n",
        "wslab: the nickname jo is taken; choose another --nick\n",
    )


def test_chat_in_a_pipe_prints_the_answers_to_its_lines_before_closing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(chat, "ANSWER_TIMEOUT", HANG)
    with in_thread(Slow()) as gateway:
        result = wslab("chat", gateway.url, "--nick", "kim", "--json", stdin="hello\n/join dev\n")
    assert (result.status, result.stderr) == (ExitStatus.SUCCESS, "")
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(m["type"], m.get("room"), m.get("nick"), m.get("text")) for m in messages] == [
        ("welcome", "lobby", "kim", None),
        ("join", "lobby", "kim", None),
        ("message", "lobby", "kim", "hello"),
        ("members", "dev", None, None),  # the answer to the join, which came first here
    ]


def test_chat_in_a_pipe_goes_on_without_answers_that_never_come(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(chat, "ANSWER_TIMEOUT", 0.01)
    mute = Mute()
    with in_thread(mute) as gateway:
        result = wslab("chat", gateway.url, "--nick", "lou", stdin="one\ntwo\n")
        until_sync(lambda: gateway.call(lambda: len(mute.said) == 2), "both lines to be said")
    assert result == Result(ExitStatus.SUCCESS, "* you are lou, in lobby\n* lou joined lobby\n", "")
    assert mute.said == ["one", "two"]


def test_chat_escapes_tabs_and_control_characters_and_says_no_blank_line(
    gateway: Gateway,
) -> None:
    chat = Running("chat", gateway.url, "--nick", "max")
    chat.wait_for("* max joined lobby")
    gateway.call(lambda: gateway.fake.publish("message", "lobby", "eve", text="a\tb\x1b[2J"))
    chat.wait_for("[lobby] <eve> a\\tb\\x1b[2J")
    chat.type("\n \t \n\x00\nend\n")
    chat.wait_for("[lobby] <max> end")
    result = chat.finish()
    events = gateway.fake.events["lobby"]
    said = [
        event["text"] for event in events if event["type"] == "message" and event["nick"] == "max"
    ]
    assert said == ["end"]
    assert result.status == ExitStatus.SUCCESS


def test_chat_shows_the_time_of_live_events_with_timestamps(gateway: Gateway) -> None:
    result = wslab("chat", gateway.url, "--nick", "ned", "--timestamps", stdin="hi\n")
    assert result.status == ExitStatus.SUCCESS
    assert untimed(result.stdout.splitlines()) == [
        "* you are ned, in lobby",
        "[time] * ned joined lobby",
        "[time] [lobby] <ned> hi",
    ]
