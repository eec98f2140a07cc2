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
from typing import TextIO

from wsdraft import InvalidURI, parse_uri

from .cli import CommandError, Environment, ExitStatus, _open
from .connection import Connection
from .display import format_message
from .network import make_ssl_context
from .replay import Opener, format_result, join_url, play
from .replay_copies import Outcome, Unopened, copy_suffix, new_run, play_copies, rename, summarise
from .session import Session, SessionError, load_session

#: Copies played at once unless ``--concurrency`` says otherwise.
CONCURRENCY = 50
# Messages a replayed connection buffers before it stops reading: plenty, so that a server
# streaming to one connection while the player waits on another never sees a slow reader.
QUEUE = 4096


async def run_replay_command(args: argparse.Namespace, env: Environment) -> ExitStatus:
    """``wslab replay``: play each session (or its copies), print how it went."""
    sessions = [_load_session(path, args.url) for path in args.sessions]
    if args.copies == 1 and not args.json:
        return await _play_once(sessions, args, env)
    return await _play_copies(sessions, args, env)


async def _play_once(
    sessions: list[Session], args: argparse.Namespace, env: Environment
) -> ExitStatus:
    status = ExitStatus.SUCCESS
    for session in sessions:
        result = await play(
            session, args.url, _opener(args, session), speed=args.speed, timeout=args.timeout
        )
        env.stdout.write("".join(line + "\n" for line in format_result(result)))
        env.stdout.flush()
        if not result.ok:
            status = ExitStatus.ERROR
    return status


async def _play_copies(
    sessions: list[Session], args: argparse.Namespace, env: Environment
) -> ExitStatus:
    """Play ``--copies`` copies of each session in turn, print each session's summary.

    Exits 1 if a copy failed at a step; else, if a copy could not open a connection, with
    the status of the first that could not, as ``wslab connect`` would; else 0.
    """
    run = new_run()
    for session in sessions:  # Names too long for the suffix stop the run before it plays.
        try:
            rename(session, copy_suffix(run, args.copies))
        except SessionError as exc:
            raise CommandError(ExitStatus.USAGE, str(exc)) from None
    failed_step = False
    unopened: ExitStatus | None = None
    loop = asyncio.get_running_loop()
    for session in sessions:
        started = loop.time()
        outcomes = await play_copies(
            session,
            args.url,
            _opener(args),
            copies=args.copies,
            concurrency=args.concurrency or min(args.copies, CONCURRENCY),
            run=run,
            opening_errors=(CommandError,),
            speed=args.speed,
            timeout=args.timeout,
            done=_progress(env.stderr, session, args.copies) if env.stderr.isatty() else None,
        )
        summary = summarise(session, outcomes, loop.time() - started, run)
        if env.stderr.isatty():
            env.stderr.write("\r\x1b[K")
        if args.json:
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


def _opener(args: argparse.Namespace, session: Session | None = None) -> Opener:
    """Opens a session's connections; a failure names ``session``'s file and the
    connection, when ``session`` is given, as the error that ends the run."""
    context = make_ssl_context(cafile=args.cacert, insecure=args.insecure)

    async def open_connection(name: str, url: str) -> Connection:
        try:
            return await _open(
                url, args, timeout=args.open_timeout, max_queue=QUEUE, context=context
            )
        except CommandError as exc:
            if session is None:
                raise
            message = f"{session.source}: connection {name!r}: {exc}"
            raise CommandError(exc.status, message) from None

    return open_connection
