from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from client import connect
from client.cli import ExitStatus
from client.replay import Failure, Peer, SessionResult, format_result, play
from client.session import Expect, Recorder, Send, Session, Step, load_session, parse_session
from tests.client import fake_gateway, threaded
from tests.client.test_cli import Result, wslab
from tests.waiting import HANG, within

SESSIONS = Path(__file__).parents[2] / "sessions"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    """The URL of a fake gateway (tests/client/fake_gateway.py) running in a thread."""
    with threaded.in_thread(fake_gateway.FakeGateway()) as gateway:
        yield gateway.url


@pytest.fixture
async def async_url() -> AsyncIterator[str]:
    server = await fake_gateway.start()
    yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()


def replay(*args: str) -> Result:
    """``wslab replay`` with ``args``; an expectation waits until a hang, unless its step or
    ``args`` give a timeout."""
    return wslab("replay", "--timeout", str(HANG), *args)


def write_session(directory: Path, name: str, session: dict[str, object]) -> str:
    path = directory / name
    path.write_text(json.dumps(session))
    return str(path)


CHAT = {"alice": "/chat?nick=alice", "bob": "/chat?nick=bob"}


def test_replay_exits_0_with_one_pass_line_per_session_when_every_expectation_is_met(
    url: str,
) -> None:
    result = replay(str(SESSIONS / "chat.json"), str(SESSIONS / "quotes.json"), "--url", url)
    assert (result.status, result.stderr) == (ExitStatus.SUCCESS, "")
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"PASS  two people chatting  6/6 steps  \d+\.\d\d s", lines[0])
    assert re.fullmatch(r"PASS  stock quotes  4/4 steps  \d+\.\d\d s", lines[1])


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
            "connections": CHAT,
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


def test_replay_reports_a_timeout_when_nothing_arrives_using_the_steps_own_timeout(
    url: str, tmp_path: Path
) -> None:
    path = write_session(
        tmp_path,
        "silence.json",
        {
            "connections": {"echo": "/echo"},
            "steps": [
                {"send": "ping?"},
                {"expect_text": "ping?"},
                {"expect_text": "pong!", "timeout": 0.2},
            ],
        },
    )
    result = replay(path, "--url", url)
    assert result.status == ExitStatus.ERROR
    assert result.stdout.splitlines()[1:] == [
        f'      step 3 of {path} (echo): expected the text "pong!"',
        "      timed out after 0.2 s; nothing arrived",
    ]


def test_replay_reports_a_connection_the_server_closes_while_a_step_waits(
    url: str, tmp_path: Path
) -> None:
    path = write_session(
        tmp_path,
        "closed.json",
        {
            "connections": {"echo": "/echo"},
            "steps": [{"send": "one"}, {"send": "close:bye"}, {"expect_text": "two"}],
        },
    )
    result = replay(path, "--url", url)
    assert result.status == ExitStatus.ERROR
    assert result.stdout.splitlines()[1:] == [
        f'      step 3 of {path} (echo): expected the text "two"',
        "      connection closed: bye; 1 message arrived that did not match:",
        "        one",
    ]


def test_replay_plays_every_session_and_exits_1_if_any_failed(url: str, tmp_path: Path) -> None:
    failing = write_session(
        tmp_path,
        "failing.json",
        {"connections": {"echo": "/echo"}, "steps": [{"expect_text": "x", "timeout": 0.1}]},
    )
    result = replay(failing, str(SESSIONS / "quotes.json"), "--url", url)
    assert result.status == ExitStatus.ERROR
    verdicts = [line[:4] for line in result.stdout.splitlines() if not line.startswith(" ")]
    assert verdicts == ["FAIL", "PASS"]


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


def test_replay_takes_speed_0_on_the_command_line(url: str) -> None:
    result = replay(str(SESSIONS / "chat.json"), "--url", url, "--speed", "0")
    assert result.status == ExitStatus.SUCCESS
    assert result.stdout.startswith("PASS  two people chatting  6/6 steps  ")


def test_replay_refuses_a_bad_session_file_with_exit_2_before_playing_anything(
    url: str, tmp_path: Path
) -> None:
    bad = write_session(
        tmp_path, "bad.json", {"connections": CHAT, "steps": [{"conn": "carol", "send": "hi"}]}
    )
    result = replay(str(SESSIONS / "chat.json"), bad, "--url", url)
    assert (result.status, result.stdout) == (ExitStatus.USAGE, "")
    assert result.stderr == (
        f"wslab: {bad}: step 1: 'conn' is 'carol', which is not one of the connections: "
        "alice, bob\n"
    )


def test_replay_refuses_a_url_it_cannot_use_with_exit_2(tmp_path: Path) -> None:
    result = replay(str(SESSIONS / "chat.json"), "--url", "http://localhost:1")
    assert (result.status, result.stdout) == (ExitStatus.USAGE, "")
    assert result.stderr.startswith(f"wslab: {SESSIONS / 'chat.json'}: connection 'alice': ")


@pytest.mark.parametrize(
    ("base", "connections", "open_timeout", "status", "message"),
    [
        (
            "ws://127.0.0.1:1",
            {"alice": "/echo"},
            HANG,
            ExitStatus.CONNECT_FAILED,
            "connection 'alice': cannot connect to ws://127.0.0.1:1/echo: ",
        ),
        (
            None,
            {"alice": "/echo", "bob": "/forbidden"},
            HANG,
            ExitStatus.HANDSHAKE_FAILED,
            "connection 'bob': server rejected the handshake with 403: origin not allowed here",
        ),
        (  # 0.3 s where nothing answers, so that no connection has to open that fast
            None,
            {"alice": "/silent", "bob": "/echo"},
            0.3,
            ExitStatus.TIMEOUT,
            "connection 'alice': timed out after 0.3 s opening ws://127.0.0.1:",
        ),
    ],
    ids=["refused", "rejected", "timeout"],
)
def test_replay_stops_with_the_exit_status_of_connect_when_a_connection_cannot_open(
    url: str,
    tmp_path: Path,
    base: str | None,
    connections: dict[str, str],
    open_timeout: float,
    status: ExitStatus,
    message: str,
) -> None:
    session = write_session(tmp_path, "cannot-open.json", {"connections": connections, "steps": []})
    result = replay(
        session, "--url", base or url, "--open-timeout", str(open_timeout), "--no-proxy"
    )
    assert (result.status, result.stdout) == (status, "")
    assert result.stderr.startswith(f"wslab: {session}: {message}")


def test_replay_reports_the_sessions_it_played_before_a_connection_could_not_open(
    url: str, tmp_path: Path
) -> None:
    forbidden = write_session(
        tmp_path, "forbidden.json", {"connections": {"alice": "/forbidden"}, "steps": []}
    )
    result = replay(str(SESSIONS / "quotes.json"), forbidden, "--url", url)
    assert result.status == ExitStatus.HANDSHAKE_FAILED
    assert result.stdout.startswith("PASS  stock quotes  4/4 steps  ")
    assert result.stderr.startswith(f"wslab: {forbidden}: connection 'alice': server rejected")


def test_replay_refuses_a_negative_speed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        replay("s.json", "--url", "ws://localhost", "--speed", "-1")
    assert info.value.code == ExitStatus.USAGE
    assert "argument --speed: must be 0 or more: -1" in capsys.readouterr().err


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


def test_a_session_recorded_with_connect_record_replays_against_the_same_server(
    url: str, tmp_path: Path
) -> None:
    path = tmp_path / "recorded.json"
    recorded = wslab("connect", "--record", str(path), f"{url}/chat?nick=rec", stdin="hello\n")
    assert recorded.status == ExitStatus.SUCCESS
    actions = [step.action for step in load_session(path).steps]
    assert [action for action in actions if isinstance(action, Send)] == [Send("hello")]
    assert [action for action in actions if isinstance(action, Expect)] == [
        Expect({"type": "welcome", "nick": "rec", "room": "lobby"}),
        Expect({"type": "join", "room": "lobby", "nick": "rec"}),
        Expect({"type": "message", "room": "lobby", "nick": "rec", "text": "hello"}),
    ]
    replayed = replay(str(path), "--url", url)
    assert replayed.status == ExitStatus.SUCCESS, replayed.stdout
    assert replayed.stdout.startswith("PASS  recorded  4/4 steps  ")


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
