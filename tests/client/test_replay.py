"""Playing sessions (client/replay.py), reporting how it went, and recording them
(client/session.py's Recorder); tests/client/cli/test_replay.py runs ``wslab replay``."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from client import connect
from client.replay import Failure, Peer, SessionResult, format_result, play
from client.session import (
    Expect,
    Recorder,
    Send,
    Session,
    Step,
    load_session,
    parse_session,
    with_run,
)
from tests.client import fake_gateway
from tests.waiting import HANG, within

SESSIONS = Path(__file__).parents[2] / "sessions"


@pytest.fixture
async def async_url() -> AsyncIterator[str]:
    server = await fake_gateway.start()
    yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()


class Scripted:
    """A connection on which ``messages`` have arrived and no more will; it keeps what is
    sent. Unlike a real one, nothing can arrive late, after an expectation timed out."""

    def __init__(self, *messages: str) -> None:
        self.messages = list(messages)
        self.sent: list[str] = []

    async def send(self, message: str) -> None:
        self.sent.append(message)

    async def recv(self) -> str:
        if not self.messages:
            await asyncio.Event().wait()  # forever
        return self.messages.pop(0)

    async def close(self) -> None:
        pass


async def test_replay_names_the_step_that_timed_out_and_what_arrived_instead() -> None:
    hello = '{"type": "message", "room": "lobby", "nick": "alice", "text": "hello bob"}'
    peers = {"alice": Scripted(), "bob": Scripted('{"type": "join", "nick": "bob"}', hello)}
    session = parse_session(
        {
            "name": "wrong greeting",
            "connections": {"alice": "/chat?nick=alice", "bob": "/chat?nick=bob"},
            "steps": [
                {"conn": "bob", "expect": {"type": "join", "nick": "bob"}},
                {"conn": "alice", "send": "hello bob"},
                {"conn": "bob", "expect": {"type": "message", "text": "hello carol"}},
                {"conn": "bob", "send": "never sent"},
            ],
        },
        source="wrong.json",
    )

    async def open_connection(name: str, url: str) -> Peer:
        return peers[name]

    result = await play(session, "ws://gateway", open_connection, timeout=0.01)
    lines = format_result(result)
    assert re.fullmatch(r"FAIL  wrong greeting  2/4 steps  \d+\.\d\d s", lines[0])
    assert lines[1:] == [
        '      step 3 of wrong.json (bob): expected {"type": "message", "text": "hello carol"}',
        "      timed out after 0.01 s; 1 message arrived that did not match:",
        f"        {hello}",
    ]
    assert (peers["alice"].sent, peers["bob"].sent) == (["hello bob"], [])


async def test_speed_0_plays_recorded_times_as_fast_as_possible(async_url: str) -> None:
    session = parse_session(
        {
            "connections": {"echo": "/echo"},
            "steps": [
                {"at": 3600, "send": "an hour later"},
                {"expect_text": "an hour later"},
                {"at": 7200, "send": "two hours later"},
                {"expect_text": "two hours later"},
            ],
        },
        source="slow.json",
    )

    async def open_connection(name: str, url: str) -> Peer:
        return await connect(url, proxy=None)

    result = await within(
        play(session, async_url, open_connection, speed=0),
        "the session played as fast as possible, not in two hours",
    )
    assert (result.ok, result.passed) == (True, 4)


async def test_play_times_each_step_that_passed_from_its_start() -> None:
    peer = Scripted("pong")
    session = parse_session(
        {
            "connections": {"c": "/echo"},
            "steps": [{"send": "ping"}, {"expect_text": "pong"}, {"expect_text": "never"}],
        },
        source="timed.json",
    )

    async def open_connection(name: str, url: str) -> Peer:
        return peer

    result = await play(session, "ws://server", open_connection, timeout=0.01)
    assert (result.passed, len(result.timings)) == (2, 2)
    assert all(0 <= seconds <= result.elapsed for seconds in result.timings)


def test_the_report_shows_only_the_last_few_messages_that_did_not_match() -> None:
    step = Step(2, "trader", Expect({"type": "subscribed"}))
    session = Session(
        "q.json", "quotes", {"trader": "/stocks"}, (Step(1, "trader", Send("")), step)
    )
    failure = Failure(step, "timed out after 5 s", 10, ("eight", "nine\nlines", b"\x00"))
    assert format_result(SessionResult(session, 1, 5.0123, failure)) == [
        "FAIL  quotes  1/2 steps  5.01 s",
        '      step 2 of q.json (trader): expected {"type": "subscribed"}',
        "      timed out after 5 s; 10 messages arrived that did not match; the last 3:",
        "        eight",
        "        nine\\nlines",
        "        [binary 1 bytes] 00",
    ]


def test_the_report_shows_a_send_that_failed() -> None:
    step = Step(1, "alice", Send("hello\nbob"))
    session = Session("c.json", "chat", {"alice": "/chat"}, (step,))
    failure = Failure(step, "could not send: connection closed")
    assert format_result(SessionResult(session, 0, 0.5, failure)) == [
        "FAIL  chat  0/1 steps  0.50 s",
        "      step 1 of c.json (alice): sending hello\\nbob",
        "      could not send: connection closed",
    ]


def test_a_recording_writes_one_step_per_line_without_seq_ts_or_binary_messages() -> None:
    recorder = Recorder("/stocks")
    recorder.sent(0.12345, "MSFT")
    recorder.received('{"type": "quote", "symbol": "MSFT", "seq": 3, "ts": 1.5}')
    recorder.received(b"\x00")
    recorder.received("not JSON")
    assert recorder.to_json("quotes") == (
        "{\n"
        '  "name": "quotes",\n'
        '  "connections": {"client": "/stocks"},\n'
        '  "steps": [\n'
        '    {"at": 0.123, "send": "MSFT"},\n'
        '    {"expect": {"type": "quote", "symbol": "MSFT"}},\n'
        '    {"expect_text": "not JSON"}\n'
        "  ]\n"
        "}\n"
    )
    assert Recorder("/").to_json("empty").endswith('"steps": []\n}\n')


def test_a_recording_leaves_out_what_differs_from_run_to_run_at_every_depth() -> None:
    recorder = Recorder("/stocks")
    recorder.received(
        '{"type": "snapshot", "seq": 9, "quotes": [{"symbol": "MSFT", "price": 27.9, '
        '"change": 0.1, "change_pct": 0.4, "seq": 4, "ts": 1.5}, [{"ts": 2}]]}'
    )
    recorder.received('{"type": "history", "room": "lobby", "events": [{"type": "join"}]}')
    recorder.received('{"type": "members", "room": "lobby", "members": ["rec", "someone"]}')
    recorder.received('{"type": "rooms", "rooms": [{"room": "lobby", "members": 2}]}')
    assert json.loads(recorder.to_json("den"))["steps"] == [
        {"expect": {"type": "snapshot", "quotes": [{"symbol": "MSFT"}, [{}]]}},
        {"expect": {"type": "history", "room": "lobby"}},
        {"expect": {"type": "members", "room": "lobby"}},
        {"expect": {"type": "rooms"}},
    ]


def recording(resource: str, *received: str) -> Recorder:
    """A recording of a connection to ``resource`` that said hello and received these."""
    recorder = Recorder(resource)
    recorder.sent(0.001, "hello")
    for message in received:
        recorder.received(message)
    return recorder


async def test_a_recording_replays_on_another_run_whose_history_and_own_join_differ() -> None:
    recorder = recording(
        "/chat?nick=rec&room=hello",
        '{"type": "welcome", "nick": "rec", "room": "hello"}',
        '{"type": "join", "room": "hello", "nick": "rec", "seq": 1, "ts": 1.5}',
        '{"type": "history", "room": "hello", "events": [{"type": "join", "room": "hello", '
        '"nick": "rec", "seq": 1, "ts": 1.5}]}',
        '{"type": "members", "room": "hello", "members": ["rec"]}',
        '{"type": "message", "room": "hello", "nick": "rec", "text": "hello", "seq": 2, "ts": 2}',
    )
    session = with_run(parse_session(json.loads(recorder.to_json("hello")), source="h"), "ab12")
    assert session.connections == {"client": "/chat?nick=rec-ab12&room=hello-ab12"}
    events = [
        {"type": kind, "room": "hello-ab12", "nick": "rec-ab12", "seq": seq, "ts": 9.5}
        for seq, kind in enumerate(["join", "leave", "join"], start=1)
    ]
    peer = Scripted(  # another run: no live join, a longer history, another member
        '{"type": "welcome", "nick": "rec-ab12", "room": "hello-ab12"}',
        json.dumps({"type": "history", "room": "hello-ab12", "events": events}),
        '{"type": "members", "room": "hello-ab12", "members": ["rec-ab12", "x"]}',
        '{"type": "message", "room": "hello-ab12", "nick": "rec-ab12", "text": "hello", '
        '"seq": 4, "ts": 9.6}',
    )
    result = await play(session, "ws://chat", lambda *_: connected(peer), speed=0, timeout=1)
    assert (result.passed, result.failure) == (5, None)
    assert peer.sent == ["hello"]


def test_a_recording_without_a_nick_asks_for_the_guest_name_it_was_given() -> None:
    recorder = recording(
        "/chat?room=den",
        '{"type": "welcome", "nick": "guest-1a2b", "room": "den"}',
        '{"type": "message", "room": "den", "nick": "guest-1a2b", "text": "hello"}',
    )
    recorded = json.loads(recorder.to_json("guest"))
    assert recorded["connections"] == {"client": "/chat?room=den-{run}&nick=guest-1a2b-{run}"}
    assert recorded["steps"][1:] == [
        {"expect": {"type": "welcome", "nick": "guest-1a2b-{run}", "room": "den-{run}"}},
        {
            "expect": {
                "type": "message",
                "room": "den-{run}",
                "nick": "guest-1a2b-{run}",
                "text": "hello",
            }
        },
    ]


def test_a_recording_leaves_the_token_out_of_its_path() -> None:
    recorder = recording(
        "/chat?nick=tom&token=eyJ.secret.sig&room=den",
        '{"type": "welcome", "nick": "tom", "room": "den"}',
    )
    recorded = json.loads(recorder.to_json("tokened"))
    assert recorded["connections"] == {"client": "/chat?nick=tom-{run}&room=den-{run}"}


async def connected(peer: Peer) -> Peer:
    return peer


class LazyChat:
    """A lobby in memory as late as the real chat may be: a connection joins only when its
    first message is handled (the chat handles a connection's messages in order, after its
    join), and its own ``join`` reaches it only in the ``history`` that follows, as when
    the gateway was still subscribing. What a session expects must hold even so."""

    def __init__(self) -> None:
        self.members: dict[str, asyncio.Queue[str]] = {}
        self.seq = 0

    async def open(self, name: str, url: str) -> Peer:
        nick = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["nick"][0]
        inbox: asyncio.Queue[str] = asyncio.Queue()
        inbox.put_nowait(json.dumps({"type": "welcome", "nick": nick, "room": "lobby"}))
        chat = self

        class Member:
            async def send(self, message: str) -> None:
                if nick not in chat.members:
                    join = chat.publish({"type": "join", "nick": nick})
                    chat.members[nick] = inbox
                    inbox.put_nowait(json.dumps({"type": "history", "events": [join]}))
                said = json.loads(message)["text"] if message.startswith("{") else message
                chat.publish({"type": "message", "nick": nick, "text": said})

            async def recv(self) -> str:
                return await inbox.get()

            async def close(self) -> None:
                chat.members.pop(nick, None)

        return Member()

    def publish(self, event: dict[str, object]) -> dict[str, object]:
        self.seq += 1
        event = {**event, "room": "lobby", "seq": self.seq, "ts": 1.5}
        for inbox in self.members.values():
            inbox.put_nowait(json.dumps(event))
        return event


async def test_the_chat_sample_passes_however_late_each_person_joins() -> None:
    session = with_run(load_session(SESSIONS / "chat.json"), "ab12")
    result = await play(session, "ws://chat", LazyChat().open, speed=0, timeout=HANG)
    assert (result.passed, result.failure) == (len(session.steps), None)
