"""Many copies of a session at once, for ``wslab replay --copies``.

:func:`copy_of` gives a copy of a session nicknames and rooms of its own, so that copies
played together never meet on the server; :func:`play_copies` plays copies, so many at a
time; :func:`summarise` turns how they went into a :class:`Summary`: how many passed, the
failures grouped by step and problem, and how long each expectation took to be met.
Playing one copy is :func:`client.replay.play`'s business.

What a copy renames, and why only that (docs/SESSIONS.md, "Copies"): the chat keeps
nicknames unique, and a room is shared by whoever joins it. A copy is the session
:func:`client.session.templated`, each nickname and room it names given the ``{run}``
template, then :func:`client.session.with_run` with a value of its own, ``RUN-k`` for
copy ``k`` of a run: ``alice`` and ``alice-{run}`` both become ``alice-RUN-k``, wherever
they stand for a nickname or a room. Anything else (text said, a room the session never
names such as the ``lobby`` a connection without ``room=`` lands in) stays as it is, but
for a ``{run}`` in it, as in any replay.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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
from .session import Send, Session, Step, templated, with_run

__all__ = [
    "FailureGroup",
    "Outcome",
    "Summary",
    "Unopened",
    "copy_of",
    "copy_run",
    "new_run",
    "play_copies",
    "summarise",
]

#: Percentiles of the step latencies reported, as fractions.
PERCENTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}


def new_run() -> str:
    """A new run's token, four random hex digits: runs started together (or a run started
    while the chat still holds the nicknames of the last one) use different names."""
    return secrets.token_hex(2)


def copy_run(run: str, number: int) -> str:
    """What ``{run}`` becomes in copy ``number`` (from 1) of ``run``: ``RUN-NUMBER``."""
    return f"{run}-{number}"


def copy_of(session: Session, run: str, number: int) -> Session:
    """Copy ``number`` of ``session`` in ``run``: its nicknames and rooms, and any
    ``{run}``, made its own (``alice`` becomes ``alice-RUN-NUMBER``).

    Raises:
        SessionError: a name of the copy is longer than the chat allows.
    """
    return with_run(templated(session), copy_run(run, number))


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
    """Play ``copies`` copies of ``session``, renamed for ``run`` (:func:`copy_of`), at most
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
        copy = copy_of(session, run, number)
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
    # What copy_run gives, and the dash before it as templated adds it.
    suffixes = re.compile(f"-?{re.escape(run)}-[0-9]+")
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


class _CannotOpen(Exception):
    def __init__(self, conn: str, error: Exception) -> None:
        super().__init__(conn, error)
        self.conn = conn
        self.error = error


def _figures(histogram: Histogram) -> dict[str, float]:
    figures = {name: histogram.percentile(q) for name, q in PERCENTILES.items()}
    figures["max"] = histogram.max
    return figures
