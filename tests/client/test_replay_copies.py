"""Tests of client.replay_copies: renaming a session for a copy, playing copies at once
against connections in memory, and summarising how they went. tests/client/cli/
test_replay.py runs ``wslab replay --copies`` against the fake gateway."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from pathlib import Path

import pytest

from client import ConnectionClosed
from client.replay import Failure, Peer, SessionResult
from client.replay_copies import Outcome, Unopened, copy_of, play_copies, summarise
from client.session import (
    Expect,
    ExpectText,
    Recorder,
    Send,
    Session,
    SessionError,
    Step,
    load_session,
    parse_session,
)
from tests.waiting import within
from wsdraft import Closed

SESSIONS = Path(__file__).parents[2] / "sessions"


def actions(session: Session) -> list[object]:
    return [step.action for step in session.steps]


def test_a_copy_of_the_chat_sample_has_nicknames_of_its_own_in_what_it_opens_and_expects() -> None:
    session = load_session(SESSIONS / "chat.json")
    copy = copy_of(session, "ab12", 3)
    assert copy.connections == {
        "alice": "/chat?nick=alice-ab12-3",
        "bob": "/chat?nick=bob-ab12-3",
    }
    said = {"type": "message", "room": "lobby"}
    assert actions(copy) == [
        Send("bob is here"),
        Expect(said | {"nick": "bob-ab12-3", "text": "bob is here"}),
        Send("hello bob"),
        Expect(said | {"nick": "alice-ab12-3", "text": "hello bob"}),
        Expect(said | {"nick": "alice-ab12-3", "text": "hello bob"}),
        Send('{"type": "say", "text": "hi alice"}'),
        Expect(said | {"nick": "bob-ab12-3", "text": "hi alice"}),
    ]
    assert (copy.source, copy.name, [s.at for s in copy.steps]) == (
        session.source,
        session.name,
        [s.at for s in session.steps],
    )


CHAT_IN_ROOMS = {
    "connections": {
        "alice": "/chat?nick=alice&room=dev&since=0",
        "bob": "/chat?room=dev&nick=bob",
        "guest": "/chat",
    },
    "steps": [
        {"conn": "alice", "send": {"type": "join", "room": "ops"}},
        {"conn": "bob", "send": '{"type":"join","room":"ops"}'},
        {"conn": "alice", "send": {"type": "private", "room": "dev", "to": "bob", "text": "bob"}},
        {"conn": "alice", "send": {"type": "private", "room": "lobby", "to": "carol", "text": "x"}},
        {"conn": "bob", "expect": {"type": "private", "from": "alice", "to": "bob", "text": "bob"}},
        {"conn": "bob", "expect": {"type": "members", "room": "ops", "members": ["alice", "bob"]}},
        {"conn": "bob", "expect": {"type": "rooms", "rooms": [{"room": "dev", "members": 2}]}},
        {
            "conn": "bob",
            "expect": {"type": "history", "room": "ops", "events": [{"nick": "alice", "seq": 1}]},
        },
        {"conn": "guest", "expect_text": "alice"},
        {"conn": "guest", "send": "alice"},
    ],
}


def test_a_copy_renames_names_wherever_they_stand_for_a_nick_or_a_room_and_nowhere_else() -> None:
    copy = copy_of(parse_session(CHAT_IN_ROOMS, source="rooms.json"), "k", 1)
    assert copy.connections == {
        "alice": "/chat?nick=alice-k-1&room=dev-k-1&since=0",
        "bob": "/chat?room=dev-k-1&nick=bob-k-1",
        "guest": "/chat",
    }
    sent = [json.loads(a.text) for a in actions(copy)[:4] if isinstance(a, Send)]
    assert sent == [
        {"type": "join", "room": "ops-k-1"},
        {"type": "join", "room": "ops-k-1"},
        {"type": "private", "room": "dev-k-1", "to": "bob-k-1", "text": "bob"},
        {"type": "private", "room": "lobby", "to": "carol", "text": "x"},
    ]
    assert actions(copy)[4:] == [
        Expect({"type": "private", "from": "alice-k-1", "to": "bob-k-1", "text": "bob"}),
        Expect({"type": "members", "room": "ops-k-1", "members": ["alice-k-1", "bob-k-1"]}),
        Expect({"type": "rooms", "rooms": [{"room": "dev-k-1", "members": 2}]}),
        Expect({"type": "history", "room": "ops-k-1", "events": [{"nick": "alice-k-1", "seq": 1}]}),
        ExpectText("alice"),
        Send("alice"),
    ]


def test_text_sent_as_json_keeps_its_spacing_unless_a_name_in_it_changes() -> None:
    session = parse_session(
        {
            "connections": {"c": "/chat?nick=alice"},
            "steps": [{"send": '{"type":"say",  "text":"alice"}'}, {"send": '{"nick":"alice"}'}],
        },
        source="spacing.json",
    )
    assert actions(copy_of(session, "k", 1)) == [
        Send('{"type":"say",  "text":"alice"}'),
        Send('{"nick": "alice-k-1"}'),
    ]


def test_a_session_recorded_with_connect_record_is_copied_without_edits() -> None:
    recorder = Recorder("/chat?nick=rec&room=den")
    recorder.sent(0.01, "hello")
    recorder.received('{"type": "welcome", "nick": "rec", "room": "den"}')
    recorder.received(
        '{"type": "history", "room": "den", "events": '
        '[{"type": "join", "room": "den", "nick": "rec", "seq": 1, "ts": 1.5}]}'
    )
    recorder.received('{"type": "members", "room": "den", "members": ["rec"]}')
    session = parse_session(json.loads(recorder.to_json("rec")), source="rec.json")
    copy = copy_of(session, "ab12", 7)
    assert copy.connections == {"client": "/chat?nick=rec-ab12-7&room=den-ab12-7"}
    assert actions(copy) == [
        Send("hello"),
        Expect({"type": "welcome", "nick": "rec-ab12-7", "room": "den-ab12-7"}),
        Expect({"type": "history", "room": "den-ab12-7"}),
        Expect({"type": "members", "room": "den-ab12-7"}),
    ]


def test_a_name_too_long_for_the_last_copy_is_refused() -> None:
    session = parse_session(
        {"connections": {"c": f"/chat?nick={'n' * 25}&room=ok"}, "steps": []}, source="long.json"
    )
    assert copy_of(session, "ab12", 9).connections == {
        "c": f"/chat?nick={'n' * 25}-ab12-9&room=ok-ab12-9"
    }
    with pytest.raises(SessionError) as info:
        copy_of(session, "ab12", 10)
    assert str(info.value) == (
        f"long.json: '{'n' * 25}-ab12-10' is too long: nicknames and rooms have at most 32 "
        "characters, {run} ('ab12-10' here) included"
    )


class Member:
    """A connection to a chat in memory that answers a line said with a ``message`` event
    from the nick in its URL; or, for the nicks in ``closing``, closes instead."""

    open = 0
    most = 0

    def __init__(self, url: str, closing: set[str]) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        self.nick = query["nick"][0]
        self.closing = self.nick in closing
        self.inbox: list[str] = []
        Member.open += 1
        Member.most = max(Member.most, Member.open)

    async def send(self, message: str) -> None:
        self.inbox.append(json.dumps({"type": "message", "nick": self.nick, "text": message}))

    async def recv(self) -> str:
        await asyncio.sleep(0)  # Let the other copies run, as a network would.
        if self.closing:
            raise ConnectionClosed(Closed(body=b"going away"))
        return self.inbox.pop(0)

    async def close(self) -> None:
        Member.open -= 1


SAY_HELLO = parse_session(
    {
        "name": "hello",
        "connections": {"alice": "/chat?nick=alice"},
        "steps": [
            {"send": "hello"},
            {"expect": {"type": "message", "nick": "alice", "text": "hello"}},
        ],
    },
    source="hello.json",
)


async def test_copies_play_at_most_concurrency_at_once_each_with_its_own_nicks() -> None:
    Member.open = Member.most = 0
    urls: list[str] = []

    async def open_connection(name: str, url: str) -> Peer:
        urls.append(url)
        return Member(url, closing=set())

    outcomes = await within(
        play_copies(SAY_HELLO, "ws://chat", open_connection, copies=6, concurrency=2, run="t"),
        "six copies to play",
    )
    assert [outcome.ok for outcome in outcomes] == [True] * 6
    assert sorted(urls) == [f"ws://chat/chat?nick=alice-t-{number}" for number in range(1, 7)]
    assert (Member.most, Member.open) == (2, 0)


async def test_copies_failing_alike_are_grouped_and_one_that_cannot_open_counts_as_failed() -> None:
    async def open_connection(name: str, url: str) -> Peer:
        if url.endswith("-t-4"):
            raise OSError("refused")
        return Member(url, closing={"alice-t-3", "alice-t-5"})

    ended: list[Outcome] = []
    outcomes = await within(
        play_copies(
            SAY_HELLO,
            "ws://chat",
            open_connection,
            copies=6,
            concurrency=6,
            run="t",
            opening_errors=(OSError,),
            done=ended.append,
        ),
        "six copies to play",
    )
    assert sorted(map(id, ended)) == sorted(map(id, outcomes))
    assert [outcome.ok for outcome in outcomes] == [True, True, False, False, False, True]
    unopened = outcomes[3]
    assert isinstance(unopened, Unopened)
    assert (unopened.conn, str(unopened.error)) == ("alice", "refused")
    assert unopened.session.connections == {"alice": "/chat?nick=alice-t-4"}

    summary = summarise(SAY_HELLO, outcomes, 1.5, run="t")
    lines = summary.lines()
    assert lines[:6] == [
        "FAIL  hello  3/6 copies passed  1.50 s",
        '      2 copies failed at step 2 of hello.json (alice): expected {"type": "message", '
        '"nick": "alice", "text": "hello"}',
        "      connection closed: going away; e.g. copy 3: nothing arrived",
        "      1 copy could not open connection 'alice' of hello.json",
        "      refused; copy 4",
        "      latency ms      copies     p50     p90     p99     max",
    ]
    assert lines[6].startswith("      step 2 (alice)       3 ")
    assert len(lines) == 7


async def test_an_error_the_opener_raises_that_is_not_an_opening_error_stops_every_copy() -> None:
    Member.open = 0

    async def open_connection(name: str, url: str) -> Peer:
        if url.endswith("-t-2"):
            raise RuntimeError("bug")
        return Member(url, closing=set())

    with pytest.raises(RuntimeError, match="bug"):
        await within(
            play_copies(SAY_HELLO, "ws://chat", open_connection, copies=4, concurrency=4, run="t"),
            "the copies to stop",
        )
    assert Member.open == 0


def result(session: Session, timings: tuple[float, ...], failure: Failure | None = None) -> Outcome:
    return SessionResult(session, len(timings), sum(timings), failure, timings)


#: Two people chatting, as the sample session was before its nicknames had ``{run}``.
CHAT = parse_session(
    {
        "name": "two people chatting",
        "connections": {"alice": "/chat?nick=alice", "bob": "/chat?nick=bob"},
        "steps": [
            {"at": 0.0, "conn": "alice", "expect": {"type": "welcome", "nick": "alice"}},
            {"at": 0.0, "conn": "bob", "expect": {"type": "join", "nick": "bob"}},
            {"at": 0.5, "conn": "alice", "send": "hello bob"},
            {
                "conn": "bob",
                "expect": {
                    "type": "message",
                    "room": "lobby",
                    "nick": "alice",
                    "text": "hello bob",
                },
            },
            {"at": 1.0, "conn": "bob", "send": {"type": "say", "text": "hi alice"}},
            {"conn": "alice", "expect": {"type": "message", "nick": "bob", "text": "hi alice"}},
        ],
    },
    source="chat.json",
)


def test_the_summary_groups_failures_by_step_and_problem_with_the_first_copy_as_example() -> None:
    passed = (0.0, 0.001, 0.0, 0.010, 0.0, 0.020)
    step_4 = CHAT.steps[3]
    timed_out = Failure(step_4, "timed out after 5 s", 1, ('{"type": "error", "code": "x"}',))
    closed = Failure(step_4, "connection closed: bye from alice-t-9", 0, ())
    outcomes = [result(CHAT, passed) for _ in range(6)]
    outcomes.insert(1, result(CHAT, passed[:3], timed_out))
    outcomes.insert(4, result(CHAT, passed[:3], timed_out))
    outcomes.append(result(CHAT, passed[:3], closed))
    outcomes.append(Unopened(CHAT, "bob", OSError("cannot connect to /chat?nick=bob-t-10")))
    summary = summarise(CHAT, outcomes, 2.0, run="t")

    assert (summary.ok, summary.copies, summary.passed) == (False, 10, 6)
    described = (
        f'step 4 of {CHAT.source} (bob): expected {{"type": "message", "room": "lobby", '
        '"nick": "alice", "text": "hello bob"}'
    )
    assert summary.lines() == [
        "FAIL  two people chatting  6/10 copies passed  2.00 s",
        f"      2 copies failed at {described}",
        "      timed out after 5 s; e.g. copy 2: 1 message arrived that did not match:",
        '        {"type": "error", "code": "x"}',
        "      1 copy could not open connection 'bob' of " + CHAT.source,
        "      cannot connect to /chat?nick=bob; copy 10",
        f"      1 copy failed at {described}",
        "      connection closed: bye from alice; copy 9: nothing arrived",
        "      latency ms      copies     p50     p90     p99     max",
        "      step 1 (alice)       9     0.0     0.0     0.0     0.0",
        "      step 2 (bob)         9     1.0     1.0     1.0     1.0",
        "      step 4 (bob)         6    10.0    10.0    10.0    10.0",
        "      step 6 (alice)       6    20.0    20.0    20.0    20.0",
    ]


def test_the_summary_s_latencies_are_percentiles_of_the_copies_that_met_each_expectation() -> None:
    session = parse_session(
        {"connections": {"c": "/echo"}, "steps": [{"send": "x"}, {"expect_text": "x"}]},
        source="echo.json",
        default_name="echo",
    )
    outcomes = [result(session, (0.0, 0.010)) for _ in range(9)] + [result(session, (0, 0.050))]
    summary = summarise(session, outcomes, 0.5, run="t")
    assert summary.lines() == [
        "PASS  echo  10/10 copies passed  0.50 s",
        "      latency ms  copies     p50     p90     p99     max",
        "      step 2 (c)      10    10.0    10.0    50.0    50.0",
    ]
    assert summary.to_json() == {
        "session": "echo",
        "source": "echo.json",
        "copies": 10,
        "passed": 10,
        "failed": 0,
        "seconds": 0.5,
        "failures": [],
        "steps": [
            {
                "step": 2,
                "conn": "c",
                "met": 10,
                "latency_ms": {  # within the histogram's 1% precision
                    "p50": pytest.approx(10.0, rel=0.01),
                    "p90": pytest.approx(10.0, rel=0.01),
                    "p99": 50.0,
                    "max": 50.0,
                },
            }
        ],
    }


def test_the_summary_s_json_has_each_failure_group_with_its_example_openings_first() -> None:
    step = Step(1, "c", Expect({"type": "pong"}))
    session = Session("p.json", "ping", {"c": "/echo"}, (step,))
    failure = Failure(step, "timed out after 1 s", 4, ("three", "four"))
    outcomes = [result(session, (), failure), Unopened(session, "c", OSError("refused"))]
    assert summarise(session, outcomes, 1.0, run="t").to_json()["failures"] == [
        {
            "copies": 1,
            "step": None,
            "conn": "c",
            "problem": "refused",
            "example": 2,
            "skipped": 0,
            "last": [],
        },
        {
            "copies": 1,
            "step": 1,
            "conn": "c",
            "problem": "timed out after 1 s",
            "example": 1,
            "skipped": 4,
            "last": ["three", "four"],
        },
    ]
