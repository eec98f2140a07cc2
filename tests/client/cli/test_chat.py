"""``wslab chat`` end to end in a pipe, against the fake gateway (tests/client/fake_gateway.py)."""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import threading

import pytest

from client.cli import Environment, ExitStatus, main, reconnect
from tests.client.cli.running import Result, wslab
from tests.client.threaded import Gateway
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
    chat.wait_for("[lobby] <bob> missed 2")
    chat.type("back\n")
    chat.wait_for("[lobby] <alice> back")
    result = chat.finish()

    assert (result.status, result.stderr) == (ExitStatus.SUCCESS, "")
    lines = result.stdout.splitlines()
    notes = [line for line in lines if re.fullmatch(r"\* (connection|reconnecting) .*", line)]
    assert notes[0].startswith("* connection failed: ")
    assert notes[1] == "* reconnecting in 0.0 s"
    assert [line for line in lines if line not in notes] == [
        "* you are alice, in lobby",
        "* alice joined lobby",  # seq 1
        "[lobby] <bob> before",  # seq 2: the reconnection asks for what came since
        "* reconnected",
        "* alice joined lobby",  # seq 6, live, then again in the history: shown once
        "* alice left lobby",  # seq 3
        "[lobby] <bob> missed 1",
        "[lobby] <bob> missed 2",
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
    chat.wait_for("[dev] <bob> missed in dev")
    chat.type("still in dev\n")
    chat.wait_for("[dev] <frank> still in dev")
    result = chat.finish()
    assert result.status == ExitStatus.SUCCESS
    assert result.stdout.count("[dev] <bob> missed in dev") == 1


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


def test_chat_needs_a_nick(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["chat", "ws://localhost:4502"])
    assert info.value.code == ExitStatus.USAGE
    assert "the following arguments are required: --nick" in capsys.readouterr().err
