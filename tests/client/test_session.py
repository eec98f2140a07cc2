from __future__ import annotations

import json
from pathlib import Path

import pytest

from client.session import (
    Expect,
    ExpectText,
    JSONValue,
    Send,
    SessionError,
    Step,
    load_session,
    matches,
    names,
    parse_session,
    templated,
    with_run,
)

SESSIONS = Path(__file__).parents[2] / "sessions"


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ({}, {"type": "welcome"}),
        ({"type": "welcome"}, {"type": "welcome", "nick": "alice", "room": "lobby"}),
        ({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}, "d": 3}),
        ({"symbols": ["AAPL", "MSFT"]}, {"symbols": ["AAPL", "MSFT"]}),
        ([{"nick": "alice"}, {}], [{"nick": "alice", "seq": 1}, {"nick": "bob"}]),
        ({"price": 1}, {"price": 1.0}),
        ({"none": None}, {"none": None}),
        ({"flag": False}, {"flag": False}),
        ("text", "text"),
    ],
)
def test_an_expectation_matches_a_message_that_contains_it(
    expected: JSONValue, actual: JSONValue
) -> None:
    assert matches(expected, actual)


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ({"type": "welcome"}, {"type": "join"}),
        ({"nick": "alice"}, {"type": "welcome"}),
        ({"a": {"b": 1}}, {"a": {"c": 1}}),
        ({"a": {"b": 1}}, {"a": 1}),
        ({"symbols": ["AAPL", "MSFT"]}, {"symbols": ["MSFT", "AAPL"]}),
        ({"symbols": ["AAPL"]}, {"symbols": ["AAPL", "MSFT"]}),
        ({"symbols": ["AAPL", "MSFT"]}, {"symbols": ["AAPL"]}),
        ({"symbols": []}, {"symbols": {}}),
        ({"seq": 1}, {"seq": "1"}),
        ({"seq": 1}, {"seq": True}),
        ({"flag": True}, {"flag": 1}),
        ({"none": None}, {}),
        ({"none": None}, {"none": False}),
        ({}, ["not", "an", "object"]),
    ],
)
def test_an_expectation_does_not_match_a_message_that_lacks_part_of_it(
    expected: JSONValue, actual: JSONValue
) -> None:
    assert not matches(expected, actual)


@pytest.mark.parametrize(
    ("message", "accepted"),
    [
        ('{"type": "quote", "symbol": "MSFT", "price": 27.91}', True),
        ('{"type": "quote", "symbol": "AAPL"}', False),
        ("not JSON", False),
        ('["type", "quote"]', False),
        (b'{"type": "quote", "symbol": "MSFT"}', False),
    ],
)
def test_expect_accepts_text_messages_holding_a_matching_json_object(
    message: str | bytes, accepted: bool
) -> None:
    assert Expect({"type": "quote", "symbol": "MSFT"}).accepts(message) is accepted


def test_expect_text_accepts_exactly_its_text() -> None:
    expectation = ExpectText("pong")
    assert expectation.accepts("pong")
    assert not expectation.accepts("pong ")
    assert not expectation.accepts(b"pong")


@pytest.mark.parametrize(
    ("at", "speed", "due"),
    [(2.0, 1.0, 2.0), (2.0, 4.0, 0.5), (2.0, 0.0, None), (None, 1.0, None)],
)
def test_a_steps_due_time_divides_at_by_the_speed_and_speed_0_never_waits(
    at: float | None, speed: float, due: float | None
) -> None:
    assert Step(1, "alice", Send("hi"), at=at).due(speed) == due


def test_a_session_file_loads_into_steps_with_defaults_filled_in(tmp_path: Path) -> None:
    path = tmp_path / "echo.json"
    path.write_text(
        json.dumps(
            {
                "connections": {"only": "/echo"},
                "steps": [
                    {"at": 1, "send": {"type": "say", "text": "é"}},
                    {"expect_text": '{"type": "say", "text": "é"}', "timeout": 0.5},
                ],
            }
        )
    )
    session = load_session(path)
    assert (session.source, session.name, session.connections) == (
        str(path),
        "echo",
        {"only": "/echo"},
    )
    assert session.steps == (
        Step(1, "only", Send('{"type": "say", "text": "é"}'), at=1.0),
        Step(2, "only", ExpectText('{"type": "say", "text": "é"}'), timeout=0.5),
    )


@pytest.mark.parametrize("name", ["chat.json", "quotes.json"])
def test_the_sample_sessions_load(name: str) -> None:
    session = load_session(SESSIONS / name)
    assert session.steps


def test_the_chat_sample_has_two_people_with_nicknames_new_on_each_run_saying_hello_both_ways() -> (
    None
):
    session = load_session(SESSIONS / "chat.json")
    assert session.connections == {"alice": "/chat?nick=alice-{run}", "bob": "/chat?nick=bob-{run}"}
    sent = [(step.conn, step.action) for step in session.steps if isinstance(step.action, Send)]
    assert sent == [
        ("bob", Send("bob is here")),
        ("alice", Send("hello bob")),
        ("bob", Send('{"type": "say", "text": "hi alice"}')),
    ]


def test_the_quotes_sample_subscribes_then_expects_the_sorted_symbols() -> None:
    session = load_session(SESSIONS / "quotes.json")
    assert session.connections == {"trader": "/stocks"}
    assert [step.action for step in session.steps[:2]] == [
        Send('{"type": "subscribe", "symbols": ["MSFT", "AAPL"]}'),
        Expect({"type": "subscribed", "symbols": ["AAPL", "MSFT"]}),
    ]


def _session(*steps: object, **top: object) -> dict[str, object]:
    return {
        "connections": {"alice": "/chat?nick=alice", "bob": "/chat"},
        "steps": list(steps),
    } | top


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (["steps"], "s.json: a session is a JSON object, not a list"),
        (
            _session(stpes=[]),
            "s.json: unknown key 'stpes'; a session has only name, description, "
            "connections and steps",
        ),
        (_session(name=""), "s.json: 'name' must be a non-empty string, not \"\""),
        (
            {"steps": []},
            "s.json: 'connections' must be an object of names and paths such as "
            '{"alice": "/chat?nick=alice"}, not null',
        ),
        (
            {"connections": {"alice": "chat"}, "steps": []},
            "s.json: connection 'alice': its path must be a string starting with '/', not \"chat\"",
        ),
        (
            {"connections": {"alice": "/chat"}, "steps": {}},
            "s.json: 'steps' must be a list of steps, not an object",
        ),
        (_session("send hi"), "s.json: step 1: a step is a JSON object, not a string"),
        (
            _session({"conn": "alice", "sned": "hi"}),
            "s.json: step 1: unknown key 'sned'; a step has only at, conn, send, expect, "
            "expect_text and timeout",
        ),
        (
            _session({"send": "hi"}),
            "s.json: step 1: 'conn' is missing; it must name one of the connections: alice, bob",
        ),
        (
            _session({"conn": "carol", "send": "hi"}),
            "s.json: step 1: 'conn' is 'carol', which is not one of the connections: alice, bob",
        ),
        (
            _session({"conn": "alice"}),
            "s.json: step 1: a step does exactly one of 'send', 'expect' or 'expect_text'; "
            "it has none",
        ),
        (
            _session({"conn": "alice", "send": "hi", "expect": {"type": "message"}}),
            "s.json: step 1: a step does exactly one of 'send', 'expect' or 'expect_text'; "
            "it has 'send' and 'expect'",
        ),
        (
            _session({"conn": "alice", "send": ["hi"]}),
            "s.json: step 1: 'send' must be a string or a JSON object, not a list",
        ),
        (
            _session({"conn": "alice", "expect": "welcome"}),
            "s.json: step 1: 'expect' must be a JSON object (use 'expect_text' for other "
            "text), not a string",
        ),
        (
            _session({"conn": "alice", "expect_text": 1}),
            "s.json: step 1: 'expect_text' must be a string, not a number",
        ),
        (
            _session({"conn": "alice", "send": "hi", "at": "1"}),
            "s.json: step 1: 'at' must be a number of seconds, 0 or more, not \"1\"",
        ),
        (
            _session({"conn": "alice", "send": "hi", "at": -1}),
            "s.json: step 1: 'at' must be a number of seconds, 0 or more, not -1",
        ),
        (
            _session(
                {"conn": "alice", "send": "hi", "at": 2},
                {"conn": "bob", "expect": {}},
                {"conn": "bob", "send": "hi", "at": 1.5},
            ),
            "s.json: step 3: 'at' is 1.5, earlier than step 1's 2; steps run in order, so "
            "'at' must not decrease",
        ),
        (
            _session({"conn": "alice", "expect": {}, "timeout": 0}),
            "s.json: step 1: 'timeout' must be a number of seconds above 0, not 0",
        ),
        (
            _session({"conn": "alice", "send": "hi", "timeout": 1}),
            "s.json: step 1: 'timeout' is for 'expect' and 'expect_text'; a send never waits",
        ),
        (
            _session({"conn": "alice", "expect": {}, "timeout": True}),
            "s.json: step 1: 'timeout' must be a number of seconds above 0, not true",
        ),
    ],
)
def test_a_session_that_breaks_the_format_is_refused_naming_the_file_and_step(
    data: object, message: str
) -> None:
    with pytest.raises(SessionError) as info:
        parse_session(data, source="s.json")
    assert str(info.value) == message


def test_a_session_file_that_is_not_json_is_refused_with_the_place_of_the_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"connections": {"alice": "/chat"},\n "steps": [}\n')
    with pytest.raises(SessionError) as info:
        load_session(path)
    assert str(info.value) == f"{path}: not valid JSON: Expecting value at line 2 column 12"


def test_a_missing_session_file_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "missing.json"
    with pytest.raises(SessionError) as info:
        load_session(path)
    assert str(info.value) == f"{path}: cannot read it: No such file or directory"


def test_a_run_fills_in_the_template_in_paths_and_messages_at_every_depth() -> None:
    session = parse_session(
        {
            "connections": {"a": "/chat?nick=a-{run}&room={run}x", "b": "/stocks"},
            "steps": [
                {"conn": "a", "send": "hello {run}"},
                {"conn": "a", "send": {"type": "join", "room": "dev-{run}"}},
                {"conn": "a", "expect": {"members": ["a-{run}"], "e": [{"t": "{run}{run}"}]}},
                {"conn": "b", "expect_text": "{run}"},
            ],
        },
        source="run.json",
    )
    run = with_run(session, "ab12")
    assert run.connections == {"a": "/chat?nick=a-ab12&room=ab12x", "b": "/stocks"}
    assert [step.action for step in run.steps] == [
        Send("hello ab12"),
        Send('{"type": "join", "room": "dev-ab12"}'),
        Expect({"members": ["a-ab12"], "e": [{"t": "ab12ab12"}]}),
        ExpectText("ab12"),
    ]
    assert with_run(run, "cd34") == run


def test_a_name_too_long_once_the_run_is_filled_in_is_refused() -> None:
    nick = "n" * 28
    session = parse_session(
        {"connections": {"c": f"/chat?nick={nick}-{{run}}&room={'r' * 40}"}, "steps": []},
        source="long.json",
    )
    assert with_run(session, "ab1").connections == {"c": f"/chat?nick={nick}-ab1&room={'r' * 40}"}
    with pytest.raises(SessionError) as info:
        with_run(session, "ab12")
    assert str(info.value) == (
        f"long.json: '{nick}-ab12' is too long: nicknames and rooms have at most 32 characters, "
        "{run} ('ab12' here) included"
    )


def test_the_names_of_a_session_are_its_nicks_and_rooms_in_paths_and_the_rooms_it_joins() -> None:
    session = parse_session(
        {
            "connections": {"a": "/chat?nick=alice&room=dev&since=0", "b": "/chat?nick=b-{run}"},
            "steps": [
                {"conn": "a", "send": {"type": "join", "room": "ops"}},
                {"conn": "a", "send": {"type": "say", "room": "lobby", "text": "hi"}},
                {"conn": "b", "expect": {"type": "join", "room": "elsewhere"}},
            ],
        },
        source="names.json",
    )
    assert names(session) == {"alice", "dev", "ops", "b-{run}"}
    assert templated(session).connections == {
        "a": "/chat?nick=alice-{run}&room=dev-{run}&since=0",
        "b": "/chat?nick=b-{run}",
    }
