"""``wslab replay --copies`` and ``--json`` against the fake gateway (tests/client/
fake_gateway.py); test_replay.py has the tests of ``wslab replay`` playing each session once.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from client.cli import Environment, ExitStatus, main
from tests.client.test_replay import SESSIONS, replay, write_session
from tests.client.threaded import Gateway
from tests.waiting import HANG

CHAT_LATENCIES = [
    r"      latency ms      copies     p50     p90     p99     max",
    *(
        rf"      step {step}( +)20( +\d+\.\d){{4}}"
        for step in ("1 \\(alice\\)", "2 \\(bob\\)", "4 \\(bob\\)", "6 \\(alice\\)")
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


def test_replay_copies_refuses_a_name_too_long_for_the_copy_suffix_before_playing(
    gateway: Gateway, tmp_path: Path
) -> None:
    nick = "n" * 28
    session = write_session(
        tmp_path, "long.json", {"connections": {"c": f"/chat?nick={nick}"}, "steps": []}
    )
    result = replay(session, "--url", gateway.url, "--copies", "2")
    assert (result.status, result.stdout) == (ExitStatus.USAGE, "")
    assert re.fullmatch(
        rf"wslab: {re.escape(session)}: '{nick}-[0-9a-f]{{4}}-2' is too long: a copy's "
        r"nicknames and rooms have at most 32 characters, suffix \(7\) included\n",
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
