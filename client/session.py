"""Session files: the client side of a conversation, to play back with ``wslab replay``.

docs/SESSIONS.md describes the format. This module reads a file into a :class:`Session`,
with an error naming the file and the step when it does not follow the format, and decides
whether a received message meets a step's expectation (:func:`matches`). It also gives a
session names unique to a replay: :func:`with_run` fills in its ``{run}`` template, and
:func:`templated` puts the template into the nicknames and rooms it names (:func:`names`),
for the copies of ``wslab replay --copies`` and for recordings (:class:`Recorder`). It
opens no connection and keeps no time: the player, :mod:`client.replay`, does both.
"""

from __future__ import annotations

import json
import math
import os
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeAlias

__all__ = [
    "MAX_NAME",
    "NAME_KEYS",
    "RUN",
    "Action",
    "Expect",
    "ExpectText",
    "JSONValue",
    "Recorder",
    "Send",
    "Session",
    "SessionError",
    "Step",
    "load_session",
    "matches",
    "names",
    "parse_session",
    "rename",
    "templated",
    "with_run",
]

JSONValue: TypeAlias = bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None

_SESSION_KEYS = ("name", "description", "connections", "steps")
_STEP_KEYS = ("at", "conn", "send", "expect", "expect_text", "timeout")
_ACTION_KEYS = ("send", "expect", "expect_text")


def matches(expected: JSONValue, actual: JSONValue) -> bool:
    """True if ``actual`` contains ``expected``.

    An object matches an object that has each of its keys with a matching value, and any
    other keys; a list matches a list of the same length whose items match in order; any
    other value matches an equal value of the same JSON type (``1`` matches ``1.0``, but
    ``true`` never matches ``1`` and ``"1"`` never matches ``1``).
    """
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and matches(value, actual[key]) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(matches(item, other) for item, other in zip(expected, actual, strict=True))
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float):
        return isinstance(actual, int | float) and expected == actual
    return type(expected) is type(actual) and expected == actual


@dataclass(frozen=True)
class Send:
    """Send ``text`` as a text message."""

    text: str


@dataclass(frozen=True)
class Expect:
    """Wait for a text message holding a JSON object that contains ``pattern``."""

    pattern: dict[str, JSONValue]

    def accepts(self, message: str | bytes) -> bool:
        if isinstance(message, bytes):
            return False
        try:
            received = json.loads(message)
        except ValueError:
            return False
        return matches(self.pattern, received)


@dataclass(frozen=True)
class ExpectText:
    """Wait for a text message equal to ``text``."""

    text: str

    def accepts(self, message: str | bytes) -> bool:
        return message == self.text


Action: TypeAlias = Send | Expect | ExpectText


@dataclass(frozen=True)
class Step:
    """One step of a session.

    Attributes:
        number: its position in the file, from 1.
        conn: the name of the connection it acts on.
        action: what it does.
        at: seconds after the session starts, at the recorded speed, before which the step
            does not begin; None to begin as soon as the step before it is done.
        timeout: how long an expectation waits, in seconds; None for the player's default.
    """

    number: int
    conn: str
    action: Action
    at: float | None = None
    timeout: float | None = None

    def due(self, speed: float) -> float | None:
        """Seconds after the start before which the step does not begin, at ``speed``.

        ``speed`` 2 halves the recorded times; 0 means as fast as possible, so None.
        """
        if self.at is None or speed == 0:
            return None
        return self.at / speed


@dataclass(frozen=True)
class Session:
    """A session read from ``source``.

    Attributes:
        source: where it was read from, to name in messages.
        name: its name in reports.
        connections: connection names and their paths, in the order they are opened.
        steps: the steps, in the order they run.
    """

    source: str
    name: str
    connections: dict[str, str]
    steps: tuple[Step, ...]


class SessionError(ValueError):
    """A session file cannot be read or breaks the format; the message names file and step."""


def load_session(path: str | os.PathLike[str]) -> Session:
    """Read and check the session file at ``path``.

    Raises:
        SessionError: the file cannot be read, is not JSON, or breaks the format.
    """
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise SessionError(f"{source}: cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SessionError(f"{source}: it is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"{source}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise SessionError(msg) from None
    return parse_session(data, source=source, default_name=Path(source).stem)


def parse_session(data: object, *, source: str, default_name: str = "session") -> Session:
    """Check a session already parsed from JSON; ``source`` names it in errors.

    Raises:
        SessionError: ``data`` breaks the format.
    """
    where = _Where(source)
    if not isinstance(data, dict):
        raise where.error(f"a session is a JSON object, not {_kind(data)}")
    where.no_unknown_keys(data, _SESSION_KEYS, "a session")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise where.error(f"'name' must be a non-empty string, not {_show(name)}")
    if not isinstance(data.get("description", ""), str):
        raise where.error(f"'description' must be a string, not {_kind(data['description'])}")
    connections = _parse_connections(data.get("connections"), where)
    steps = data.get("steps")
    if not isinstance(steps, list):
        raise where.error(f"'steps' must be a list of steps, not {_kind(steps)}")
    parsed: list[Step] = []
    for number, step in enumerate(steps, start=1):
        parsed.append(_parse_step(step, number, connections, parsed, _Where(source, number)))
    return Session(source=source, name=name, connections=connections, steps=tuple(parsed))


def _parse_connections(connections: object, where: _Where) -> dict[str, str]:
    example = '{"alice": "/chat?nick=alice"}'
    if not isinstance(connections, dict) or not connections:
        raise where.error(
            f"'connections' must be an object of names and paths such as {example}, "
            f"not {_kind(connections)}"
        )
    for name, path in connections.items():
        if not name:
            raise where.error("a connection needs a non-empty name")
        if not isinstance(path, str) or not path.startswith("/"):
            shown = json.dumps(path) if isinstance(path, str) else _kind(path)
            raise where.error(
                f"connection {name!r}: its path must be a string starting with '/', not {shown}"
            )
    return dict(connections)


def _parse_step(
    step: object,
    number: int,
    connections: dict[str, str],
    before: list[Step],
    where: _Where,
) -> Step:
    if not isinstance(step, dict):
        raise where.error(f"a step is a JSON object, not {_kind(step)}")
    where.no_unknown_keys(step, _STEP_KEYS, "a step")
    action = _parse_action(step, where)
    if isinstance(action, Send) and "timeout" in step:
        raise where.error("'timeout' is for 'expect' and 'expect_text'; a send never waits")
    return Step(
        number=number,
        conn=_parse_conn(step, connections, where),
        action=action,
        at=_parse_at(step, before, where),
        timeout=_parse_timeout(step, where),
    )


def _parse_conn(step: dict[str, object], connections: dict[str, str], where: _Where) -> str:
    names = ", ".join(connections)
    if "conn" not in step:
        if len(connections) == 1:
            return next(iter(connections))
        raise where.error(f"'conn' is missing; it must name one of the connections: {names}")
    conn = step["conn"]
    if not isinstance(conn, str) or conn not in connections:
        shown = repr(conn) if isinstance(conn, str) else _kind(conn)
        raise where.error(f"'conn' is {shown}, which is not one of the connections: {names}")
    return conn


def _parse_action(step: dict[str, object], where: _Where) -> Action:
    present = [key for key in _ACTION_KEYS if key in step]
    if len(present) != 1:
        found = " and ".join(repr(key) for key in present) or "none"
        raise where.error(
            f"a step does exactly one of 'send', 'expect' or 'expect_text'; it has {found}"
        )
    key = present[0]
    value = step[key]
    if key == "send":
        if isinstance(value, str):
            return Send(value)
        if isinstance(value, dict):
            return Send(json.dumps(value, ensure_ascii=False))
        raise where.error(f"'send' must be a string or a JSON object, not {_kind(value)}")
    if key == "expect":
        if isinstance(value, dict):
            return Expect(value)
        raise where.error(
            f"'expect' must be a JSON object (use 'expect_text' for other text), not {_kind(value)}"
        )
    if isinstance(value, str):
        return ExpectText(value)
    raise where.error(f"'expect_text' must be a string, not {_kind(value)}")


def _parse_at(step: dict[str, object], before: list[Step], where: _Where) -> float | None:
    if "at" not in step:
        return None
    at = _seconds(step["at"])
    if at is None or at < 0:
        raise where.error(f"'at' must be a number of seconds, 0 or more, not {_show(step['at'])}")
    previous = next((other for other in reversed(before) if other.at is not None), None)
    if previous is not None and previous.at is not None and at < previous.at:
        raise where.error(
            f"'at' is {at:g}, earlier than step {previous.number}'s {previous.at:g}; "
            f"steps run in order, so 'at' must not decrease"
        )
    return at


def _parse_timeout(step: dict[str, object], where: _Where) -> float | None:
    if "timeout" not in step:
        return None
    timeout = _seconds(step["timeout"])
    if timeout is None or timeout <= 0:
        raise where.error(
            f"'timeout' must be a number of seconds above 0, not {_show(step['timeout'])}"
        )
    return timeout


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


#: The template a session may put in its paths and messages: each replay replaces it with
#: a value of its own (:func:`with_run`), so that nicknames and rooms such as
#: ``alice-{run}`` are new on every replay and in every copy.
RUN = "{run}"
#: Query parameters of a connection's path that name a nickname or a room
#: (docs/MESSAGES.md, "Chat").
NAME_PARAMETERS = frozenset({"nick", "room"})
#: Keys of JSON objects whose string values (or, for ``members``, whose list's strings)
#: are nicknames or rooms, in the chat's messages (docs/MESSAGES.md, "Chat").
NAME_KEYS = frozenset({"nick", "room", "from", "to", "members"})
#: The longest nickname or room name the chat accepts (docs/MESSAGES.md): a longer nick
#: would silently become a guest name, and every expectation naming it would fail.
MAX_NAME = 32


def names(session: Session) -> frozenset[str]:
    """The nicknames and rooms ``session`` names: the values of its connections' ``nick``
    and ``room`` query parameters, and the rooms of the ``join`` messages it sends."""
    found: set[str] = set()
    for path in session.connections.values():
        found.update(value for _, value in _parameters(path) if value is not None)
    for step in session.steps:
        if isinstance(step.action, Send):
            message = _json_object(step.action.text)
            if message is not None and message.get("type") == "join":
                room = message.get("room")
                if isinstance(room, str):
                    found.add(room)
    return frozenset(found)


def rename(session: Session, new: Mapping[str, str]) -> Session:
    """``session`` with each of its :func:`names` that is a key of ``new`` renamed wherever
    it stands for a nickname or a room: in its connections' ``nick`` and ``room``
    parameters, and under :data:`NAME_KEYS` in what it sends (JSON objects, as objects or
    as text) and expects. Sends and expectations change alike, so that what a session
    expects is still what it sent. Other text is left as it is."""
    return replace(
        session,
        connections={conn: _rename_path(path, new) for conn, path in session.connections.items()},
        steps=tuple(replace(step, action=_rename_action(step, new)) for step in session.steps),
    )


def templated(session: Session) -> Session:
    """``session`` with ``-{run}`` added to each of its :func:`names` that has no
    :data:`RUN` yet, so that :func:`with_run` makes every name it gives unique."""
    return rename(session, {name: f"{name}-{RUN}" for name in names(session) if RUN not in name})


def with_run(session: Session, run: str) -> Session:
    """``session`` with each :data:`RUN` replaced by ``run``: in its connections' paths, in
    what it sends, and in every string of what it expects, however deep.

    Raises:
        SessionError: a name with ``run`` filled in is longer than :data:`MAX_NAME`.
    """
    too_long = sorted(
        filled
        for name in names(session)
        if RUN in name and len(filled := name.replace(RUN, run)) > MAX_NAME
    )
    if too_long:
        raise SessionError(
            f"{session.source}: {too_long[0]!r} is too long: nicknames and rooms have at most "
            f"{MAX_NAME} characters, {RUN} ({run!r} here) included"
        )
    return replace(
        session,
        connections={conn: path.replace(RUN, run) for conn, path in session.connections.items()},
        steps=tuple(replace(step, action=_fill_run(step.action, run)) for step in session.steps),
    )


def _fill_run(action: Action, run: str) -> Action:
    if isinstance(action, Send):
        return Send(action.text.replace(RUN, run))
    if isinstance(action, ExpectText):
        return ExpectText(action.text.replace(RUN, run))
    pattern = _strings(action.pattern, lambda text, _: text.replace(RUN, run))
    assert isinstance(pattern, dict)
    return Expect(pattern)


def _rename_action(step: Step, new: Mapping[str, str]) -> Action:
    action = step.action
    if isinstance(action, Send):
        message = _json_object(action.text)
        if message is None:
            return action
        renamed = _renamed(message, new)
        # Text written by hand or recorded keeps its spacing unless a name changed.
        return action if renamed == message else Send(json.dumps(renamed, ensure_ascii=False))
    if isinstance(action, Expect):
        pattern = _renamed(action.pattern, new)
        assert isinstance(pattern, dict)
        return Expect(pattern)
    return action  # expect_text: text, not a message naming anyone


def _renamed(value: JSONValue, new: Mapping[str, str]) -> JSONValue:
    """``value`` with the names in ``new`` renamed where they stand for a name: a string
    under one of :data:`NAME_KEYS`, or in a list under one."""
    return _strings(value, lambda text, named: new.get(text, text) if named else text)


def _strings(
    value: JSONValue, change: Callable[[str, bool], str], named: bool = False
) -> JSONValue:
    """``value`` with each string, however deep, replaced by ``change(string, named)``:
    ``named`` tells whether it stands under one of :data:`NAME_KEYS`."""
    if isinstance(value, dict):
        return {key: _strings(item, change, key in NAME_KEYS) for key, item in value.items()}
    if isinstance(value, list):
        return [_strings(item, change, named) for item in value]
    if isinstance(value, str):
        return change(value, named)
    return value


def _parameters(path: str) -> list[tuple[str, str | None]]:
    """The query of ``path`` as (part, name) pairs: each part as written, and its value,
    decoded, if its key is one of :data:`NAME_PARAMETERS`, else None."""
    _, mark, query = path.partition("?")
    if not mark:
        return []
    parameters: list[tuple[str, str | None]] = []
    for part in query.split("&"):
        key, equals, value = part.partition("=")
        named = bool(equals) and urllib.parse.unquote_plus(key) in NAME_PARAMETERS
        parameters.append((part, urllib.parse.unquote_plus(value) if named else None))
    return parameters


def _rename_path(path: str, new: Mapping[str, str]) -> str:
    route, mark, _ = path.partition("?")
    if not mark:
        return path
    parts = []
    for part, value in _parameters(path):
        if value is None or value not in new:
            parts.append(part)
        else:
            key = part.partition("=")[0]
            parts.append(f"{key}={urllib.parse.quote(new[value], safe='{}')}")
    return f"{route}?{'&'.join(parts)}"


def _json_object(text: str) -> dict[str, JSONValue] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


#: Keys left out of recorded expectations, however deep: they differ on every run
#: (docs/MESSAGES.md): events are numbered and dated, quotes move.
UNRECORDED_KEYS = frozenset({"seq", "ts", "price", "change", "change_pct"})
#: For messages of these types, the key left out of recorded expectations: what it holds
#: depends on who else is or was on the server, not on the session.
UNRECORDED_LISTS = {"history": "events", "members": "members", "rooms": "rooms"}


@dataclass
class Recorder:
    """Writes one connection's traffic as a session, for ``wslab connect --record``, that
    replays on any run (docs/SESSIONS.md, "Recording").

    What was sent becomes ``send`` steps with their times; what was received becomes
    ``expect`` steps (JSON objects, less what differs from run to run: see
    :data:`UNRECORDED_KEYS` and :data:`UNRECORDED_LISTS`) or ``expect_text`` steps (other
    text). Binary messages cannot be written and are left out, and so is the connection's
    own ``join``: it arrives live or only in the ``history`` that follows, depending on
    how fast the gateway subscribes to the room. The session is :func:`templated`, so that
    each replay has nicknames and rooms of its own; a connection without ``nick=`` asks
    for the nickname its ``welcome`` gave, which the chat would otherwise pick anew.

    Attributes:
        resource: the connection's path and query, such as ``/chat?nick=alice``.
    """

    resource: str
    steps: list[dict[str, JSONValue]] = field(default_factory=list)
    nick: str | None = None  # the connection's own, as its welcome said

    def sent(self, at: float, text: str) -> None:
        """Note that ``text`` was sent ``at`` seconds after the connection opened."""
        self.steps.append({"at": round(at, 3), "send": text})

    def received(self, message: str | bytes) -> None:
        """Note that ``message`` arrived."""
        if isinstance(message, bytes):
            return
        value = _json_object(message)
        if value is None:
            self.steps.append({"expect_text": message})
            return
        kind, nick = value.get("type"), value.get("nick")
        if kind == "welcome" and isinstance(nick, str) and self.nick is None:
            self.nick = nick
        if kind == "join" and nick is not None and nick == self.nick:
            return
        left_out = UNRECORDED_LISTS.get(kind) if isinstance(kind, str) else None
        self.steps.append(
            {"expect": _recorded({key: item for key, item in value.items() if key != left_out})}
        )

    def to_json(self, name: str) -> str:
        """The session file's text: one step per line."""
        session = templated(
            parse_session(
                {"name": name, "connections": {"client": self._path()}, "steps": self.steps},
                source=name,
            )
        )
        steps = ",\n".join(
            f"    {json.dumps(_step_json(step), ensure_ascii=False)}" for step in session.steps
        )
        return (
            "{\n"
            f'  "name": {json.dumps(name, ensure_ascii=False)},\n'
            f'  "connections": {json.dumps(session.connections, ensure_ascii=False)},\n'
            f'  "steps": [\n{steps}\n  ]\n'
            "}\n"
        ).replace("[\n\n  ]", "[]")

    def _path(self) -> str:
        """The resource, with the nickname the chat picked if it asked for none, and
        without a ``token``: a secret has no place in a file, and it would expire."""
        route, _, query = self.resource.partition("?")
        pairs = [
            (key, value)
            for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True)
            if key != "token"
        ]
        if self.nick is not None and all(key != "nick" for key, _ in pairs):
            pairs.append(("nick", self.nick))
        query = urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)
        return f"{route}?{query}" if query else route


def _step_json(step: Step) -> dict[str, JSONValue]:
    """A recorded step as its file has it: the connection is the only one, so left out."""
    action = step.action
    at: dict[str, JSONValue] = {} if step.at is None else {"at": step.at}
    if isinstance(action, Send):
        return at | {"send": action.text}
    if isinstance(action, Expect):
        return at | {"expect": action.pattern}
    return at | {"expect_text": action.text}


def _recorded(value: JSONValue) -> JSONValue:
    """``value`` without :data:`UNRECORDED_KEYS`, in every object however deep."""
    if isinstance(value, dict):
        return {key: _recorded(item) for key, item in value.items() if key not in UNRECORDED_KEYS}
    if isinstance(value, list):
        return [_recorded(item) for item in value]
    return value


@dataclass(frozen=True)
class _Where:
    """A place in a session file, to start error messages with."""

    source: str
    step: int | None = None

    def error(self, message: str) -> SessionError:
        place = self.source if self.step is None else f"{self.source}: step {self.step}"
        return SessionError(f"{place}: {message}")

    def no_unknown_keys(self, data: dict[str, object], known: tuple[str, ...], what: str) -> None:
        unknown = [key for key in data if key not in known]
        if unknown:
            raise self.error(
                f"unknown key {unknown[0]!r}; {what} has only {', '.join(known[:-1])} "
                f"and {known[-1]}"
            )


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _show(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value)
    return json.dumps(value) if isinstance(value, str) else _kind(value)
