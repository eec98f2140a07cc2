"""Session files: the client side of a conversation, to play back with ``wslab replay``.

docs/SESSIONS.md describes the format. This module reads a file into a :class:`Session`,
with an error naming the file and the step when it does not follow the format, and decides
whether a received message meets a step's expectation (:func:`matches`). It opens no
connection and keeps no time: the player, :mod:`client.replay`, does both.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

__all__ = [
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
    "parse_session",
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


#: Keys left out of recorded expectations: they differ on every run (docs/MESSAGES.md).
UNRECORDED_KEYS = frozenset({"seq", "ts"})


@dataclass
class Recorder:
    """Writes one connection's traffic as a session, for ``wslab connect --record``.

    What was sent becomes ``send`` steps with their times; what was received becomes
    ``expect`` steps (JSON objects, less :data:`UNRECORDED_KEYS` at any depth, as in the
    events of a history) or ``expect_text`` steps (other text). Binary messages cannot be
    written and are left out.

    Attributes:
        resource: the connection's path and query, such as ``/chat?nick=alice``.
    """

    resource: str
    steps: list[dict[str, JSONValue]] = field(default_factory=list)

    def sent(self, at: float, text: str) -> None:
        """Note that ``text`` was sent ``at`` seconds after the connection opened."""
        self.steps.append({"at": round(at, 3), "send": text})

    def received(self, message: str | bytes) -> None:
        """Note that ``message`` arrived."""
        if isinstance(message, bytes):
            return
        try:
            value = json.loads(message)
        except ValueError:
            value = None
        if isinstance(value, dict):
            self.steps.append({"expect": _recorded(value)})
        else:
            self.steps.append({"expect_text": message})

    def to_json(self, name: str) -> str:
        """The session file's text: one step per line."""
        steps = ",\n".join(f"    {json.dumps(step, ensure_ascii=False)}" for step in self.steps)
        return (
            "{\n"
            f'  "name": {json.dumps(name, ensure_ascii=False)},\n'
            f'  "connections": {json.dumps({"client": self.resource}, ensure_ascii=False)},\n'
            f'  "steps": [\n{steps}\n  ]\n'
            "}\n"
        ).replace("[\n\n  ]", "[]")


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
