"""Playing sessions (:mod:`client.session`) against a server, and reporting how it went.

:func:`play` opens a session's connections, runs its steps in order and stops at the first
step that fails; :func:`format_result` turns what happened into report lines. Deciding
whether a message meets an expectation is the session's business, not the player's.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from .display import format_message, shorten
from .exceptions import ConnectionClosed
from .session import Expect, Send, Session, Step

__all__ = [
    "Failure",
    "Opener",
    "Peer",
    "SessionResult",
    "describe_arrivals",
    "describe_step",
    "format_result",
    "join_url",
    "play",
]

#: How many of the messages that did not match a failed expectation the report shows.
SHOWN_MESSAGES = 3


class Peer(Protocol):
    """What the player needs of a connection; :class:`client.Connection` has it."""

    async def send(self, message: str) -> None: ...

    async def recv(self) -> str | bytes: ...

    async def close(self) -> object: ...


Opener = Callable[[str, str], Awaitable[Peer]]
"""Opens the connection named by the first argument at the URL given as the second."""


@dataclass(frozen=True)
class Failure:
    """The step a session stopped at, and why.

    Attributes:
        step: the step.
        problem: what went wrong: it timed out, the connection closed, sending failed.
        skipped: how many messages arrived on the connection while the step waited, none
            of which met its expectation.
        last: the last few of those messages, oldest first.
    """

    step: Step
    problem: str
    skipped: int = 0
    last: tuple[str | bytes, ...] = ()


@dataclass(frozen=True)
class SessionResult:
    """How playing a session went: ``passed`` steps succeeded in ``elapsed`` seconds.

    ``timings`` has the seconds each passed step took, in order: from its start (after its
    ``at``, if any) until its message was sent or its expectation met.
    """

    session: Session
    passed: int
    elapsed: float
    failure: Failure | None = None
    timings: tuple[float, ...] = ()

    @property
    def ok(self) -> bool:
        return self.failure is None


def join_url(base: str, path: str) -> str:
    """The URL of a session's connection: its path appended to the server's ``base`` URL."""
    return base.rstrip("/") + path


async def play(
    session: Session,
    url: str,
    open_connection: Opener,
    *,
    speed: float = 1.0,
    timeout: float = 5.0,
) -> SessionResult:
    """Play ``session`` against the server at ``url``.

    The connections open one after the other, in the order the session lists them; the
    session's clock starts once they are all open. Each step then waits for its ``at`` time
    divided by ``speed`` (``speed`` 0 never waits) and runs; an expectation reads messages
    on its connection until one meets it, for the step's ``timeout`` or else ``timeout``
    seconds. The first step that fails ends the session. Connections close at the end.

    ``open_connection`` should return connections that keep reading while the player looks
    at another connection (``connect(..., max_queue=...)`` with room for a burst), so that
    a server never sees a slow reader. Whatever it raises, ``play`` raises, after closing
    the connections already open.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    failure = None
    timings: list[float] = []
    async with contextlib.AsyncExitStack() as stack:
        peers: dict[str, Peer] = {}
        for name, path in session.connections.items():
            peers[name] = await open_connection(name, join_url(url, path))
            stack.push_async_callback(peers[name].close)
        clock = loop.time()
        for step in session.steps:
            due = step.due(speed)
            if due is not None and (delay := clock + due - loop.time()) > 0:
                await asyncio.sleep(delay)
            begun = loop.time()
            failure = await _run(step, peers[step.conn], step.timeout or timeout)
            if failure is not None:
                break
            timings.append(loop.time() - begun)
        elapsed = loop.time() - started
    return SessionResult(session, len(timings), elapsed, failure, tuple(timings))


async def _run(step: Step, peer: Peer, timeout: float) -> Failure | None:
    action = step.action
    if isinstance(action, Send):
        try:
            await peer.send(action.text)
        except ConnectionClosed as exc:
            return Failure(step, f"could not send: {exc}")
        return None
    skipped = 0
    last: collections.deque[str | bytes] = collections.deque(maxlen=SHOWN_MESSAGES)
    try:
        async with asyncio.timeout(timeout):
            while not action.accepts(message := await peer.recv()):
                skipped += 1
                last.append(message)
    except TimeoutError:
        problem = f"timed out after {timeout:g} s"
    except ConnectionClosed as exc:
        problem = str(exc)
    else:
        return None
    return Failure(step, problem, skipped, tuple(last))


def format_result(result: SessionResult) -> list[str]:
    """Report lines for a played session: one line, and what failed, if anything.

    ::

        FAIL  stock quotes  1/4 steps  5.01 s
              step 2 of sessions/quotes.json (trader): expected {"type": "subscribed"}
              timed out after 5 s; 1 message arrived that did not match:
                {"type": "error", "code": "unavailable", "message": "..."}
    """
    session = result.session
    verdict = "PASS" if result.ok else "FAIL"
    lines = [
        f"{verdict}  {format_message(session.name)}  {result.passed}/{len(session.steps)} steps  "
        f"{result.elapsed:.2f} s"
    ]
    failure = result.failure
    if failure is None:
        return lines
    step = failure.step
    indent = " " * 6
    where = f"step {step.number} of {session.source} ({step.conn})"
    lines.append(f"{indent}{where}: {describe_step(step)}")
    arrived = describe_arrivals(failure)
    lines.append(f"{indent}{failure.problem}; {arrived}" if arrived else indent + failure.problem)
    lines.extend(f"{indent}  {shorten(format_message(message))}" for message in failure.last)
    return lines


def describe_step(step: Step) -> str:
    """What ``step`` does, in a report: ``sending ...`` or ``expected ...``."""
    action = step.action
    if isinstance(action, Send):
        return f"sending {shorten(format_message(action.text))}"
    if isinstance(action, Expect):
        return f"expected {shorten(json.dumps(action.pattern, ensure_ascii=False))}"
    return f"expected the text {shorten(json.dumps(action.text, ensure_ascii=False))}"


def describe_arrivals(failure: Failure) -> str:
    """What arrived while a failed expectation waited, to follow its problem; the messages
    themselves, ``failure.last``, go on the lines after. Empty for a send."""
    if isinstance(failure.step.action, Send):
        return ""
    if failure.skipped == 0:
        return "nothing arrived"
    if failure.skipped == 1:
        return "1 message arrived that did not match:"
    if failure.skipped <= len(failure.last):
        return f"{failure.skipped} messages arrived that did not match:"
    return f"{failure.skipped} messages arrived that did not match; the last {len(failure.last)}:"
