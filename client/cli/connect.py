"""``wslab connect``: send standard input line by line, print what comes back; with
``--record``, write the conversation as a session file for ``wslab replay``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from wsdraft import parse_uri

from ..connection import Connection
from ..display import format_message
from ..exceptions import ConnectionClosed
from ..session import Recorder
from .base import Command, CommandError, Environment, ExitStatus
from .options import ConnectionOptions, add_connection_options, open_connection
from .terminal import read_lines

__all__ = ["COMMAND", "Options", "run"]


@dataclass(frozen=True, kw_only=True)
class Options:
    url: str
    wait: float
    binary: bool
    record: str | None
    connection: ConnectionOptions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="ws:// or wss:// URL")
    add_connection_options(parser)
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="after standard input ends, keep printing messages this long before closing",
    )
    recording = parser.add_mutually_exclusive_group()
    recording.add_argument(
        "--binary", action="store_true", help="send lines as binary messages instead of text"
    )
    recording.add_argument(
        "--record",
        metavar="FILE",
        help="write what was sent and received as a session file, for wslab replay",
    )


async def run(options: Options, env: Environment) -> ExitStatus:
    """Pipe standard input to the connection and messages to standard output."""
    ws = await open_connection(options.url, options.connection)
    recorder = Recorder(parse_uri(options.url).resource) if options.record else None
    if env.interactive:
        print(f"connected to {options.url}; Ctrl-D closes", file=env.stderr)
    printer = asyncio.create_task(_print_messages(ws, env.stdout, recorder))
    lines = read_lines(env.stdin)
    sender = asyncio.create_task(_send_lines(ws, lines, binary=options.binary, recorder=recorder))
    await asyncio.wait((printer, sender), return_when=asyncio.FIRST_COMPLETED)
    if sender.done():
        sender.result()
        if options.wait > 0:
            await asyncio.wait((printer,), timeout=options.wait)
        closed = await ws.close()
    else:  # The connection ended, or printing failed (standard output was closed).
        sender.cancel()
        closed = await (ws.wait_closed() if printer.exception() is None else ws.close())
    await printer
    if options.record is not None and recorder is not None:
        _write_recording(options.record, recorder)
    if closed.error is not None:
        raise CommandError(ExitStatus.ERROR, f"connection failed: {closed.error}")
    return ExitStatus.SUCCESS


def _write_recording(path: str, recorder: Recorder) -> None:
    try:
        Path(path).write_text(recorder.to_json(Path(path).stem), encoding="utf-8")
    except OSError as exc:
        message = f"cannot write the recording to {path}: {exc.strerror or exc}"
        raise CommandError(ExitStatus.ERROR, message) from None


async def _send_lines(
    ws: Connection,
    lines: AsyncIterator[str],
    *,
    binary: bool,
    recorder: Recorder | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    opened = loop.time()
    with contextlib.suppress(ConnectionClosed):  # run reports how it ended.
        async for line in lines:
            if recorder is not None:  # before sending: a reply may come back at once
                recorder.sent(loop.time() - opened, line)
            await ws.send(line.encode() if binary else line)


async def _print_messages(ws: Connection, stdout: TextIO, recorder: Recorder | None) -> None:
    with contextlib.suppress(ConnectionClosed):  # run reports how it ended.
        async for message in ws:
            if recorder is not None:
                recorder.received(message)
            stdout.write(format_message(message) + "\n")
            stdout.flush()


COMMAND = Command(
    name="connect",
    help="send standard input line by line, print what comes back",
    description=(
        "Open a connection; send each line of standard input as a text message and print "
        "each message received as one line. Binary messages print as "
        "'[binary N bytes] HEX'. Exits 0 on a clean close: 1 connection failed, "
        "2 usage, 3 cannot connect, 4 handshake failed, 5 timed out."
    ),
    add_arguments=add_arguments,
    options=Options,
    run=run,
)
