"""``wslab replay``: the I/O half. Playing a session is :mod:`client.replay`'s business;
renaming copies and summarising them, :mod:`client.replay_copies`'.

Without ``--copies`` (or ``--json``) each session is played once and reported on one line,
and a connection that cannot open stops the run. With them, each session's copies are
played together and summarised, and a copy whose connection cannot open counts as failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from wsdraft import InvalidURI, parse_uri

from ..connection import Connection
from ..display import format_message
from ..replay import Opener, format_result, join_url, play
from ..replay_copies import Outcome, Unopened, copy_of, new_run, play_copies, summarise
from ..session import Session, SessionError, load_session, with_run
from .base import Command, CommandError, Environment, ExitStatus
from .options import (
    ConnectionOptions,
    add_connection_options,
    non_negative_float,
    open_connection,
    positive_float,
    positive_int,
)

__all__ = ["COMMAND", "Options", "run"]

#: Copies played at once unless ``--concurrency`` says otherwise.
CONCURRENCY = 50
# Messages a replayed connection buffers before it stops reading: plenty, so that a server
# streaming to one connection while the player waits on another never sees a slow reader.
QUEUE = 4096


@dataclass(frozen=True, kw_only=True)
class Options:
    sessions: list[str]
    url: str
    speed: float
    timeout: float  # how long an expectation waits, unless its step says
    copies: int
    concurrency: int | None
    json: bool
    connection: ConnectionOptions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sessions", nargs="+", metavar="SESSION", help="session file (JSON)")
    parser.add_argument(
        "--url",
        required=True,
        help="the server, ws:// or wss://; each connection's path is appended to it",
    )
    parser.add_argument(
        "--speed",
        type=non_negative_float,
        default=1.0,
        metavar="X",
        help="play X times as fast as recorded; 0: as fast as possible (default: 1)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=5.0,
        metavar="SECONDS",
        help="how long an expectation waits, unless its step has a timeout (default: 5)",
    )
    parser.add_argument(
        "--copies",
        type=positive_int,
        default=1,
        metavar="N",
        help="play N copies of each session at once, with nicknames and rooms of their own, "
        "and summarise them (default: 1, reported as a line)",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        metavar="C",
        help="with --copies: play at most C copies at a time (default: N, at most 50)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print each session's summary as one JSON object per line, even for one copy",
    )
    add_connection_options(parser, timeout="--open-timeout")


async def run(options: Options, env: Environment) -> ExitStatus:
    """Play each session (or its copies), print how it went."""
    sessions = [_load_session(path, options.url) for path in options.sessions]
    if options.copies == 1 and not options.json:
        return await _play_once(sessions, options, env)
    return await _play_copies(sessions, options, env)


async def _play_once(sessions: list[Session], options: Options, env: Environment) -> ExitStatus:
    runs = [_played(session, new_run()) for session in sessions]
    status = ExitStatus.SUCCESS
    for session in runs:
        opener = _opener(options.connection, session)
        result = await play(
            session, options.url, opener, speed=options.speed, timeout=options.timeout
        )
        env.stdout.write("".join(line + "\n" for line in format_result(result)))
        env.stdout.flush()
        if not result.ok:
            status = ExitStatus.ERROR
    return status


async def _play_copies(sessions: list[Session], options: Options, env: Environment) -> ExitStatus:
    """Play ``--copies`` copies of each session in turn, print each session's summary.

    Exits 1 if a copy failed at a step; else, if a copy could not open a connection, with
    the status of the first that could not, as ``wslab connect`` would; else 0.
    """
    run_id = new_run()
    for session in sessions:  # Names too long for the last copy stop the run before it plays.
        _played(session, run_id, copy=options.copies)
    failed_step = False
    unopened: ExitStatus | None = None
    loop = asyncio.get_running_loop()
    for session in sessions:
        started = loop.time()
        outcomes = await play_copies(
            session,
            options.url,
            _opener(options.connection),
            copies=options.copies,
            concurrency=options.concurrency or min(options.copies, CONCURRENCY),
            run=run_id,
            opening_errors=(CommandError,),
            speed=options.speed,
            timeout=options.timeout,
            done=_progress(env.stderr, session, options.copies) if env.stderr.isatty() else None,
        )
        summary = summarise(session, outcomes, loop.time() - started, run_id)
        if env.stderr.isatty():
            env.stderr.write("\r\x1b[K")
        if options.json:
            print(json.dumps(summary.to_json(), ensure_ascii=False), file=env.stdout)
        else:
            print("\n".join(summary.lines()), file=env.stdout)
        env.stdout.flush()
        for outcome in outcomes:
            if isinstance(outcome, Unopened):
                if unopened is None and isinstance(outcome.error, CommandError):
                    unopened = outcome.error.status
            elif not outcome.ok:
                failed_step = True
    if failed_step:
        return ExitStatus.ERROR
    return unopened if unopened is not None else ExitStatus.SUCCESS


def _progress(stream: TextIO, session: Session, copies: int) -> Callable[[Outcome], None]:
    """Show on a terminal how many copies are done, on one line rewritten each time."""
    done = failed = 0
    name = format_message(session.name)

    def show(outcome: Outcome) -> None:
        nonlocal done, failed
        done += 1
        failed += not outcome.ok
        stream.write(f"\r{name}: {done}/{copies} copies played, {failed} failed\x1b[K")
        stream.flush()

    return show


def _played(session: Session, run: str, *, copy: int | None = None) -> Session:
    """``session`` as played in ``run``: once, or as its copy number ``copy``. A name too
    long once filled in is a usage error, raised before anything plays."""
    try:
        return with_run(session, run) if copy is None else copy_of(session, run, copy)
    except SessionError as exc:
        raise CommandError(ExitStatus.USAGE, str(exc)) from None


def _load_session(path: str, url: str) -> Session:
    """Load a session and check its URLs, so that a bad file stops ``replay`` before it plays."""
    try:
        session = load_session(path)
    except SessionError as exc:
        raise CommandError(ExitStatus.USAGE, str(exc)) from None
    for name, resource in session.connections.items():
        try:
            parse_uri(join_url(url, resource))
        except InvalidURI as exc:
            message = f"{path}: connection {name!r}: {exc}"
            raise CommandError(ExitStatus.USAGE, message) from None
    return session


def _opener(options: ConnectionOptions, session: Session | None = None) -> Opener:
    """Opens a session's connections; a failure names ``session``'s file and the
    connection, when ``session`` is given, as the error that ends the run."""
    context = options.ssl_context()

    async def open_replayed(name: str, url: str) -> Connection:
        try:
            return await open_connection(url, options, max_queue=QUEUE, context=context)
        except CommandError as exc:
            if session is None:
                raise
            message = f"{session.source}: connection {name!r}: {exc}"
            raise CommandError(exc.status, message) from None

    return open_replayed


COMMAND = Command(
    name="replay",
    help="play recorded sessions against a server and check its replies",
    description=(
        "Play session files (docs/SESSIONS.md) one after the other against the server at "
        "--url: open each session's connections, send what it sends at its recorded "
        "times, wait for the replies it expects. Prints one line per session, and what "
        "failed. With --copies N, plays N copies of each session at once, each with "
        "nicknames and rooms of its own, and prints a summary: copies passed, failures "
        "grouped by step, step latencies. Exits 0 if every expectation was met: 1 one "
        "was not, 2 usage or bad session file, 3 cannot connect, 4 handshake failed, "
        "5 timed out opening."
    ),
    add_arguments=add_arguments,
    options=Options,
    run=run,
)
