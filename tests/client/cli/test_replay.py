"""``wslab replay`` against the fake gateway (tests/client/fake_gateway.py): each session
played once, reported on a line; or in copies (``--copies``), summarised (``--json``)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from client.cli import Environment, ExitStatus, main
from client.session import Expect, Send, load_session
from tests.client import fake_gateway, threaded
from tests.client.cli.running import Result, wslab
from tests.client.threaded import Gateway
from tests.waiting import HANG

SESSIONS = Path(__file__).parents[3] / "sessions"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    """The URL of a fake gateway (tests/client/fake_gateway.py) running in a thread."""
    with threaded.in_thread(fake_gateway.FakeGateway()) as gateway:
        yield gateway.url


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
    assert re.fullmatch(r"PASS  two people chatting  7/7 steps  \d+\.\d\d s", lines[0])
    assert re.fullmatch(r"PASS  stock quotes  4/4 steps  \d+\.\d\d s", lines[1])


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


def test_replay_takes_speed_0_on_the_command_line(url: str) -> None:
    result = replay(str(SESSIONS / "chat.json"), "--url", url, "--speed", "0")
    assert result.status == ExitStatus.SUCCESS
    assert result.stdout.startswith("PASS  two people chatting  7/7 steps  ")


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


def test_a_session_recorded_with_connect_record_replays_against_the_same_server(
    url: str, tmp_path: Path
) -> None:
    path = tmp_path / "recorded.json"
    recorded = wslab("connect", "--record", str(path), f"{url}/chat?nick=rec", stdin="hello\n")
    assert recorded.status == ExitStatus.SUCCESS
    session = load_session(path)
    assert session.connections == {"client": "/chat?nick=rec-{run}"}
    actions = [step.action for step in session.steps]
    assert [action for action in actions if isinstance(action, Send)] == [Send("hello")]
    assert [action for action in actions if isinstance(action, Expect)] == [
        Expect({"type": "welcome", "nick": "rec-{run}", "room": "lobby"}),
        Expect({"type": "message", "room": "lobby", "nick": "rec-{run}", "text": "hello"}),
    ]
    replayed = replay(str(path), "--url", url)
    assert replayed.status == ExitStatus.SUCCESS, replayed.stdout
    assert replayed.stdout.startswith("PASS  recorded  3/3 steps  ")


def test_each_replay_fills_in_run_with_a_value_of_its_own_so_names_on_the_server_do_not_matter(
    gateway: Gateway,
) -> None:
    gateway.call(lambda: gateway.fake.ghosts.update({"alice": 2, "bob": 2}))  # already on it
    for _ in range(2):
        result = replay(str(SESSIONS / "chat.json"), "--url", gateway.url, "--speed", "0")
        assert (result.status, result.stderr) == (ExitStatus.SUCCESS, ""), result.stdout
    nicks = [query["nick"][0] for query in gateway.call(lambda: gateway.fake.queries)]
    named = [re.fullmatch(r"(alice|bob)-([0-9a-f]{4})", nick) for nick in nicks]
    assert all(named), nicks
    runs = [match.group(2) for match in named if match]
    assert runs[0] == runs[1] != runs[2] == runs[3]


CHAT_LATENCIES = [
    r"      latency ms      copies     p50     p90     p99     max",
    *(
        rf"      step {step}( +)20( +\d+\.\d){{4}}"
        for step in ("2 \\(bob\\)", "4 \\(bob\\)", "5 \\(alice\\)", "7 \\(alice\\)")
    ),
]


def test_replay_copies_plays_copies_with_nicks_of_their_own_and_prints_a_summary(
    gateway: Gateway,
) -> None:
    result = replay(
        str(SESSIONS / "chat.json"),
        *("--url", gateway.url, "--copies", "20", "--concurrency", "5", "--speed", "0"),
    )
    assert (result.status, result.stderr) == (ExitStatus.SUCCESS, "")
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"PASS  two people chatting  20/20 copies passed  \d+\.\d\d s", lines[0])
    assert len(lines) == 1 + len(CHAT_LATENCIES)
    for line, pattern in zip(lines[1:], CHAT_LATENCIES, strict=True):
        assert re.fullmatch(pattern, line), line

    nicks = [query["nick"][0] for query in gateway.call(lambda: gateway.fake.queries)]
    named = [re.fullmatch(r"(alice|bob)-([0-9a-f]{4})-([0-9]+)", nick) for nick in nicks]
    assert all(named), nicks
    assert len(set(nicks)) == len(nicks) == 40
    assert len({match.group(2) for match in named if match}) == 1  # one run
    assert {int(match.group(3)) for match in named if match} == set(range(1, 21))


def test_replay_copies_groups_the_copies_that_failed_alike_and_exits_1(
    gateway: Gateway, tmp_path: Path
) -> None:
    closing = write_session(
        tmp_path,
        "closing.json",
        {
            "connections": {"echo": "/echo"},
            "steps": [{"send": "one"}, {"send": "close:bye"}, {"expect_text": "two"}],
        },
    )
    chat = str(SESSIONS / "chat.json")
    result = replay(
        closing,
        chat,
        *("--url", gateway.url, "--copies", "8", "--concurrency", "3", "--speed", "0"),
    )
    assert (result.status, result.stderr) == (ExitStatus.ERROR, "")
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"FAIL  closing  0/8 copies passed  \d+\.\d\d s", lines[0])
    assert lines[1:4] == [
        f'      8 copies failed at step 3 of {closing} (echo): expected the text "two"',
        "      connection closed: bye; e.g. copy 1: 1 message arrived that did not match:",
        "        one",
    ]
    assert re.fullmatch(r"PASS  two people chatting  8/8 copies passed  \d+\.\d\d s", lines[4])


def test_replay_copies_counts_copies_that_cannot_open_and_exits_as_connect_would(
    gateway: Gateway, tmp_path: Path
) -> None:
    session = write_session(
        tmp_path,
        "forbidden.json",
        {"connections": {"alice": "/chat?nick=alice", "bob": "/forbidden"}, "steps": []},
    )
    result = replay(session, "--url", gateway.url, "--copies", "3")
    assert (result.status, result.stderr) == (ExitStatus.HANDSHAKE_FAILED, "")
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"FAIL  forbidden  0/3 copies passed  \d+\.\d\d s", lines[0])
    assert lines[1:] == [
        f"      3 copies could not open connection 'bob' of {session}",
        "      server rejected the handshake with 403: origin not allowed here; e.g. copy 1",
    ]


def test_replay_json_prints_each_session_s_summary_as_one_object_even_for_one_copy(
    gateway: Gateway,
) -> None:
    result = replay(str(SESSIONS / "quotes.json"), "--url", gateway.url, "--json", "--speed", "0")
    assert (result.status, result.stderr) == (ExitStatus.SUCCESS, "")
    (line,) = result.stdout.splitlines()
    summary = json.loads(line)
    assert {key: summary[key] for key in ("session", "copies", "passed", "failed", "failures")} == {
        "session": "stock quotes",
        "copies": 1,
        "passed": 1,
        "failed": 0,
        "failures": [],
    }
    assert [(step["step"], step["met"]) for step in summary["steps"]] == [(2, 1), (3, 1), (4, 1)]
    assert set(summary["steps"][0]["latency_ms"]) == {"p50", "p90", "p99", "max"}


def test_replay_copies_refuses_a_name_too_long_for_the_last_copy_before_playing(
    gateway: Gateway, tmp_path: Path
) -> None:
    nick = "n" * 28
    session = write_session(
        tmp_path, "long.json", {"connections": {"c": f"/chat?nick={nick}"}, "steps": []}
    )
    result = replay(session, "--url", gateway.url, "--copies", "2")
    assert (result.status, result.stdout) == (ExitStatus.USAGE, "")
    assert re.fullmatch(
        rf"wslab: {re.escape(session)}: '{nick}-([0-9a-f]{{4}})-2' is too long: nicknames and "
        r"rooms have at most 32 characters, \{run\} \('\1-2' here\) included\n",
        result.stderr,
    )
    assert gateway.call(lambda: gateway.fake.queries) == []


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_replay_copies_shows_how_many_copies_are_done_on_a_terminal(gateway: Gateway) -> None:
    env = Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=Terminal())
    argv = ["replay", str(SESSIONS / "chat.json"), "--url", gateway.url, "--copies", "3"]
    status = main([*argv, "--speed", "0", "--timeout", str(HANG)], env)
    assert status == ExitStatus.SUCCESS
    assert env.stderr.getvalue() == (
        "".join(f"\rtwo people chatting: {n}/3 copies played, 0 failed\x1b[K" for n in (1, 2, 3))
        + "\r\x1b[K"
    )
