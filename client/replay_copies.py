"""Many copies of a session at once, for ``wslab replay --copies``.

:func:`rename` gives a copy of a session nicknames and rooms of its own, so that copies
played together never meet on the server; :func:`play_copies` plays copies, so many at a
time; :func:`summarise` turns how they went into a :class:`Summary`: how many passed, the
failures grouped by step and problem, and how long each expectation took to be met.
Playing one copy is :func:`client.replay.play`'s business.

What a copy renames, and why only that (docs/SESSIONS.md, "Copies"): the chat keeps
nicknames unique in a room, and a room is shared by whoever joins it. A session names them
in its connections' query (``/chat?nick=alice&room=dev``) and in the rooms it joins
(``{"type": "join", "room": "dev"}``). Copy ``k`` of a run adds the same suffix,
``-RUN-k``, to each of those names wherever they stand for a nickname or a room: in the
query, and under the keys of :data:`NAME_KEYS` in the JSON objects the session sends and
expects. Anything else (text said, a room the session never names such as the ``lobby``
a connection without ``room=`` lands in) stays as it is, the same for every copy.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from .bench import Histogram
from .display import format_message, shorten
from .replay import (
    Failure,
    Opener,
    Peer,
    SessionResult,
    describe_arrivals,
    describe_step,
    play,
)
from .session import Action, Expect, JSONValue, Send, Session, SessionError, Step

__all__ = [
    "NAME_KEYS",
    "FailureGroup",
    "Outcome",
    "Summary",
    "Unopened",
    "copy_suffix",
    "names",
    "new_run",
    "play_copies",
    "rename",
    "summarise",
]

#: Query parameters of a connection's path that name a nickname or a room
#: (docs/MESSAGES.md, "Chat").
NAME_PARAMETERS = frozenset({"nick", "room"})
#: Keys of JSON objects whose string values (or, for ``members``, whose list's strings)
#: are nicknames or rooms, in the chat's messages (docs/MESSAGES.md, "Chat").
NAME_KEYS = frozenset({"nick", "room", "from", "to", "members"})
#: The longest nickname or room name the chat accepts (docs/MESSAGES.md): a longer nick
#: would silently become a guest name, and every expectation naming it would fail.
MAX_NAME = 32
#: Percentiles of the step latencies reported, as fractions.
PERCENTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}


def new_run() -> str:
    """A new run's token, four random hex digits: runs started together (or a run started
    while the chat still holds the nicknames of the last one) use different names."""
    return secrets.token_hex(2)


def copy_suffix(run: str, number: int) -> str:
    """What copy ``number`` (from 1) of ``run`` adds to each name: ``-RUN-NUMBER``."""
    return f"-{run}-{number}"


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


def rename(session: Session, suffix: str) -> Session:
    """``session`` with ``suffix`` added to each of its :func:`names` wherever one stands
    for a nickname or a room: in its connections' ``nick`` and ``room`` parameters, and
    under :data:`NAME_KEYS` in what it sends (JSON objects, as objects or as text) and
    expects. Sends and expectations change alike, so that what a copy expects is what it
    sent. Other text is left as it is.

    Raises:
        SessionError: a name with the suffix is longer than :data:`MAX_NAME`.
    """
    new = {name: name + suffix for name in names(session)}
    too_long = sorted(name for name in new.values() if len(name) > MAX_NAME)
    if too_long:
        raise SessionError(
            f"{session.source}: {too_long[0]!r} is too long: a copy's nicknames and rooms "
            f"have at most {MAX_NAME} characters, suffix ({len(suffix)}) included"
        )
    return replace(
        session,
        connections={conn: _rename_path(path, new) for conn, path in session.connections.items()},
        steps=tuple(replace(step, action=_rename_action(step, new)) for step in session.steps),
    )


@dataclass(frozen=True)
class Unopened:
    """A copy that never started: its connection ``conn`` could not open, for ``error``.

    Attributes:
        session: the copy, renamed.
        conn: the connection that could not open.
        error: what the opener raised.
    """

    session: Session
    conn: str
    error: Exception

    @property
    def ok(self) -> bool:
        return False


#: How a copy went: played (passed or failed at a step), or never started.
Outcome = SessionResult | Unopened


async def play_copies(
    session: Session,
    url: str,
    open_connection: Opener,
    *,
    copies: int,
    concurrency: int,
    run: str,
    opening_errors: tuple[type[Exception], ...] = (),
    speed: float = 1.0,
    timeout: float = 5.0,
    done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Play ``copies`` copies of ``session``, renamed for ``run`` (:func:`rename`), at most
    ``concurrency`` at once; return how each went, in copy order.

    Each copy is :func:`client.replay.play`'d with ``speed`` and ``timeout``. When opening
    one of a copy's connections raises one of ``opening_errors``, that copy is
    :class:`Unopened` and the others go on; anything else ``open_connection`` raises stops
    every copy and is raised. ``done`` is called as each copy ends.
    """
    semaphore = asyncio.Semaphore(concurrency)

    async def open_one(name: str, url: str) -> Peer:
        try:
            return await open_connection(name, url)
        except opening_errors as exc:
            raise _CannotOpen(name, exc) from None

    async def play_copy(number: int) -> Outcome:
        copy = rename(session, copy_suffix(run, number))
        async with semaphore:
            outcome: Outcome
            try:
                outcome = await play(copy, url, open_one, speed=speed, timeout=timeout)
            except _CannotOpen as exc:
                outcome = Unopened(copy, exc.conn, exc.error)
        if done is not None:
            done(outcome)
        return outcome

    tasks = [asyncio.create_task(play_copy(number)) for number in range(1, copies + 1)]
    try:
        return list(await asyncio.gather(*tasks))
    finally:  # After an error: the other copies stop, and close their connections.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@dataclass(frozen=True)
class FailureGroup:
    """Copies that failed alike: at the same step, or opening the same connection, with
    the same problem (once the copies' suffixes are taken out of it).

    Attributes:
        step: the step of the original session, or None for copies that never started.
        conn: the connection of the step, or the one that could not open.
        problem: what went wrong, the copies' suffixes taken out.
        copies: how many copies failed so.
        example: the number of one of them, the first.
        failure: how that one failed at its step; None for copies that never started.
    """

    step: Step | None
    conn: str
    problem: str
    copies: int
    example: int
    failure: Failure | None = None


@dataclass(frozen=True)
class Summary:
    """How the copies of a session went.

    Attributes:
        session: the original session.
        copies: how many copies were played.
        passed: how many met every expectation.
        seconds: the wall time, from the first copy's start to the last one's end.
        failures: the failures, the most frequent first.
        latencies: for each expectation some copy met, in the session's order, the seconds
            from the step's start until its expectation was met, in every copy that met it.
    """

    session: Session
    copies: int
    passed: int
    seconds: float
    failures: tuple[FailureGroup, ...]
    latencies: tuple[tuple[Step, Histogram], ...]

    @property
    def ok(self) -> bool:
        return self.passed == self.copies

    def lines(self) -> list[str]:
        """The report for a person: the verdict, each failure group, the latencies.

        ::

            FAIL  two people chatting  19/20 copies passed  1.31 s
                  1 copy failed at step 4 of sessions/chat.json (bob): expected {...}
                  timed out after 5 s; copy 7: 1 message arrived that did not match:
                    {"type": "error", "code": "nick_taken", "message": "..."}
                  latency ms      copies     p50     p90     p99     max
                  step 1 (alice)      20     1.1     2.0     2.3     2.3
        """
        verdict = "PASS" if self.ok else "FAIL"
        head = (
            f"{verdict}  {format_message(self.session.name)}  {self.passed}/{self.copies} "
            f"copies passed  {self.seconds:.2f} s"
        )
        lines = [head]
        for group in self.failures:
            lines += self._failure_lines(group)
        return lines + self._latency_lines()

    def _failure_lines(self, group: FailureGroup) -> list[str]:
        indent = " " * 6
        copies = f"{group.copies} cop{'y' if group.copies == 1 else 'ies'}"
        example = f"copy {group.example}" if group.copies == 1 else f"e.g. copy {group.example}"
        if group.step is None:
            return [
                f"{indent}{copies} could not open connection {group.conn!r} of "
                f"{self.session.source}",
                f"{indent}{group.problem}; {example}",
            ]
        where = f"step {group.step.number} of {self.session.source} ({group.conn})"
        lines = [f"{indent}{copies} failed at {where}: {describe_step(group.step)}"]
        failure = group.failure
        arrived = "" if failure is None else describe_arrivals(failure)
        lines.append(f"{indent}{group.problem}; {example}" + (f": {arrived}" if arrived else ""))
        if failure is not None:
            lines += [f"{indent}  {shorten(format_message(message))}" for message in failure.last]
        return lines

    def _latency_lines(self) -> list[str]:
        if not self.latencies:
            return []
        indent = " " * 6
        labels = [f"step {step.number} ({format_message(step.conn)})" for step, _ in self.latencies]
        width = max(len("latency ms"), *(len(label) for label in labels))
        columns = "".join(f"{name:>8}" for name in (*PERCENTILES, "max"))
        lines = [f"{indent}{'latency ms':<{width}}  {'copies':>6}{columns}"]
        for label, (_, histogram) in zip(labels, self.latencies, strict=True):
            figures = "".join(f"{value * 1e3:8.1f}" for value in _figures(histogram).values())
            lines.append(f"{indent}{label:<{width}}  {histogram.count:>6}{figures}")
        return lines

    def to_json(self) -> dict[str, object]:
        """The report as JSON, its latencies in milliseconds as ``wslab bench --json``'s."""
        return {
            "session": self.session.name,
            "source": self.session.source,
            "copies": self.copies,
            "passed": self.passed,
            "failed": self.copies - self.passed,
            "seconds": round(self.seconds, 3),
            "failures": [
                {
                    "copies": group.copies,
                    "step": None if group.step is None else group.step.number,
                    "conn": group.conn,
                    "problem": group.problem,
                    "example": group.example,
                    "skipped": 0 if group.failure is None else group.failure.skipped,
                    "last": [
                        format_message(message)
                        for message in (() if group.failure is None else group.failure.last)
                    ],
                }
                for group in self.failures
            ],
            "steps": [
                {
                    "step": step.number,
                    "conn": step.conn,
                    "met": histogram.count,
                    "latency_ms": {
                        name: round(value * 1e3, 3) for name, value in _figures(histogram).items()
                    },
                }
                for step, histogram in self.latencies
            ],
        }


def summarise(session: Session, outcomes: Sequence[Outcome], seconds: float, run: str) -> Summary:
    """Summarise ``outcomes``, those of copies 1, 2... of ``session`` in ``run``, played in
    ``seconds``: the copies that failed alike grouped, and the step latencies."""
    suffixes = re.compile(re.escape(f"-{run}-") + "[0-9]+")  # what copy_suffix adds
    groups: dict[tuple[int, str, str], list[tuple[int, Outcome]]] = {}
    latencies = {
        step.number: Histogram() for step in session.steps if not isinstance(step.action, Send)
    }
    for number, outcome in enumerate(outcomes, start=1):
        if isinstance(outcome, Unopened):
            key = (0, outcome.conn, suffixes.sub("", str(outcome.error)))
            groups.setdefault(key, []).append((number, outcome))
            continue
        for step, seconds_taken in zip(session.steps, outcome.timings, strict=False):
            if step.number in latencies:
                latencies[step.number].add(seconds_taken)
        if outcome.failure is not None:
            step = outcome.failure.step
            key = (step.number, step.conn, suffixes.sub("", outcome.failure.problem))
            groups.setdefault(key, []).append((number, outcome))
    failures = []
    for (step_number, conn, problem), members in groups.items():
        example, outcome = members[0]
        failures.append(
            FailureGroup(
                step=session.steps[step_number - 1] if step_number else None,
                conn=conn,
                problem=problem,
                copies=len(members),
                example=example,
                failure=outcome.failure if isinstance(outcome, SessionResult) else None,
            )
        )
    failures.sort(key=lambda group: (-group.copies, group.step.number if group.step else 0))
    return Summary(
        session=session,
        copies=len(outcomes),
        passed=sum(outcome.ok for outcome in outcomes),
        seconds=seconds,
        failures=tuple(failures),
        latencies=tuple(
            (step, latencies[step.number])
            for step in session.steps
            if step.number in latencies and latencies[step.number].count
        ),
    )


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
            parts.append(f"{key}={urllib.parse.quote(new[value], safe='')}")
    return f"{route}?{'&'.join(parts)}"


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


def _renamed(value: JSONValue, new: Mapping[str, str], named: bool = False) -> JSONValue:
    """``value`` with the names in ``new`` renamed where they stand for a name: a string
    under one of :data:`NAME_KEYS` (``named``), or in a list under one."""
    if isinstance(value, dict):
        return {key: _renamed(item, new, key in NAME_KEYS) for key, item in value.items()}
    if isinstance(value, list):
        return [_renamed(item, new, named) for item in value]
    if named and isinstance(value, str):
        return new.get(value, value)
    return value


def _json_object(text: str) -> dict[str, JSONValue] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class _CannotOpen(Exception):
    def __init__(self, conn: str, error: Exception) -> None:
        super().__init__(conn, error)
        self.conn = conn
        self.error = error


def _figures(histogram: Histogram) -> dict[str, float]:
    figures = {name: histogram.percentile(q) for name, q in PERCENTILES.items()}
    figures["max"] = histogram.max
    return figures
