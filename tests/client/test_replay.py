"""Playing sessions (client/replay.py), reporting how it went, and recording them
(client/session.py's Recorder); tests/client/cli/test_replay.py runs ``wslab replay``."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

import pytest

from client import connect
from client.replay import Failure, Peer, SessionResult, format_result, play
from client.session import Expect, Recorder, Send, Session, Step, parse_session
from tests.client import fake_gateway
from tests.waiting import within


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


def test_a_recording_leaves_seq_and_ts_out_at_every_depth_as_in_a_history_s_events() -> None:
    recorder = Recorder("/chat?nick=rec&room=den")
    recorder.received(
        '{"type": "history", "room": "den", "seq": 9, "events": '
        '[{"type": "join", "nick": "rec", "seq": 1, "ts": 1.5}, [{"ts": 2}]]}'
    )
    assert json.loads(recorder.to_json("den"))["steps"] == [
        {
            "expect": {
                "type": "history",
                "room": "den",
                "events": [{"type": "join", "nick": "rec"}, [{}]],
            }
        }
    ]
