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

from wsdraft import Closed, parse_uri

from ..connection import Connection
from ..display import format_message
from ..exceptions import ConnectionClosed
from ..session import Recorder
from .base import Command, CommandError, Environment, ExitStatus
from .options import (
    ConnectionOptions,
    add_connection_options,
    non_negative_float,
    open_connection,
)
from .terminal import read_byte_lines, read_chunks

__all__ = ["CHUNK_SIZE", "COMMAND", "Options", "Unsendable", "run", "text_message"]

#: The most bytes ``--binary`` sends in one message: the client's fragment size, so that
#: each message is one frame, and far under any server's message limit.
CHUNK_SIZE = 64 * 1024
#: How long, once standard input ended in a pipe, ``connect`` waits at most for the server
#: to close before it closes itself: wscat's ``--wait`` default. A chat never closes first.
DEFAULT_WAIT = 2.0


@dataclass(frozen=True, kw_only=True)
class Options:
    url: str
    wait: float | None
    binary: bool
    record: str | None
    connection: ConnectionOptions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="ws:// or wss:// URL")
    add_connection_options(parser)
    parser.add_argument(
        "--wait",
        type=non_negative_float,
        metavar="SECONDS",
        help="after standard input ends, wait at most this long for the server to close, "
        f"then close (default: {DEFAULT_WAIT:g}; at a terminal, Ctrl-D closes at once)",
    )
    recording = parser.add_mutually_exclusive_group()
    recording.add_argument(
        "--binary",
        action="store_true",
        help="send standard input's bytes, any bytes, as they come, in binary messages of "
        f"at most {CHUNK_SIZE // 1024} KiB, instead of each line as a text message",
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
    sender = _Sender(ws, env.stderr, recorder)
    stdin = env.stdin.buffer  # bytes, whatever the locale: a line may not be UTF-8
    sending = asyncio.create_task(
        sender.send_chunks(read_chunks(stdin, CHUNK_SIZE))
        if options.binary
        else sender.send_lines(read_byte_lines(stdin))
    )
    await asyncio.wait((printer, sending), return_when=asyncio.FIRST_COMPLETED)
    if sending.done():
        sending.result()
        await asyncio.wait((printer,), timeout=_wait(options.wait, interactive=env.interactive))
        closed = await ws.close()
    else:  # The connection ended, or printing failed (standard output was closed).
        sending.cancel()
        closed = await (ws.wait_closed() if printer.exception() is None else ws.close())
    await printer
    if options.record is not None and recorder is not None:
        _write_recording(options.record, recorder)
    problem = _problem(closed)
    if problem is not None:
        raise CommandError(ExitStatus.ERROR, problem)
    return ExitStatus.ERROR if sender.refused else ExitStatus.SUCCESS


def _wait(wait: float | None, *, interactive: bool) -> float:
    """How long to wait for the server to close once standard input ended: ``--wait``;
    without it, at a terminal, Ctrl-D means "close now", and in a pipe DEFAULT_WAIT."""
    if wait is not None:
        return wait
    return 0 if interactive else DEFAULT_WAIT


def _problem(closed: Closed) -> str | None:
    """What went wrong with the connection that ended so, if anything.

    The draft's Close has no status code, only a body. This client's Close has none, so a
    body came from a Close the server started, and a server puts a reason there when it
    ends a connection for one (our gateway: a message too big, a ping unanswered, shutting
    down), as RFC 6455 servers send a code other than 1000.
    """
    if closed.error is not None:
        return f"connection failed: {closed.error}"
    if closed.body:
        reason = format_message(closed.body.decode(errors="replace"))
        return f"the server closed the connection: {reason}"
    return None


class Unsendable(ValueError):
    """A line of standard input that cannot go out as a text message; says why."""


def text_message(line: bytes, *, limit: int) -> str:
    """The text message that sends ``line``, at most ``limit`` bytes.

    Raises:
        Unsendable: ``line`` is longer than ``limit``, or not UTF-8. Replacing the bytes
            that are not would send something else than what was given, silently;
            ``--binary`` sends any bytes.
    """
    if len(line) > limit:
        msg = f"message of {len(line)} bytes exceeds the limit of {limit} bytes"
        raise Unsendable(msg)
    try:
        return line.decode()
    except UnicodeDecodeError as exc:
        msg = f"not UTF-8 (byte {exc.start + 1} is 0x{line[exc.start]:02x}); --binary sends bytes"
        raise Unsendable(msg) from None


class _Sender:
    """Sends standard input on ``ws``. A line it cannot send is said on ``stderr`` with its
    number and counted in :attr:`refused`, and the lines after it are sent: one bad line in
    a file should not cost the others, and the exit status still says it."""

    def __init__(self, ws: Connection, stderr: TextIO, recorder: Recorder | None) -> None:
        self.ws = ws
        self.stderr = stderr
        self.recorder = recorder
        self.refused = 0

    async def send_lines(self, lines: AsyncIterator[bytes]) -> None:
        """Send each line as a text message, up to the client's own message limit (the
        gateway's too, by default): beyond it the server would end the connection."""
        loop = asyncio.get_running_loop()
        opened = loop.time()
        limit = self.ws.protocol.limits.max_message_size
        number = 0
        with contextlib.suppress(ConnectionClosed):  # run reports how it ended.
            async for line in lines:
                number += 1
                try:
                    text = text_message(line, limit=limit)
                except Unsendable as exc:
                    self.refused += 1
                    print(f"wslab: line {number} not sent: {exc}", file=self.stderr, flush=True)
                    continue
                if self.recorder is not None:  # before sending: a reply may come back at once
                    self.recorder.sent(loop.time() - opened, text)
                await self.ws.send(text)

    async def send_chunks(self, chunks: AsyncIterator[bytes]) -> None:
        """Send each chunk as a binary message."""
        with contextlib.suppress(ConnectionClosed):  # run reports how it ended.
            async for chunk in chunks:
                await self.ws.send(chunk)


def _write_recording(path: str, recorder: Recorder) -> None:
    try:
        Path(path).write_text(recorder.to_json(Path(path).stem), encoding="utf-8")
    except OSError as exc:
        message = f"cannot write the recording to {path}: {exc.strerror or exc}"
        raise CommandError(ExitStatus.ERROR, message) from None


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
        "Open a connection; send each line of standard input as a text message (with "
        f"--binary, its bytes as they come, in messages of at most {CHUNK_SIZE // 1024} KiB) "
        "and print each message received as one line. Binary messages print as "
        "'[binary N bytes] HEX'. Once standard input ends, it prints what arrives until "
        "the server closes, or until --wait SECONDS have passed, then closes. Exits 0 on "
        "a clean close: 1 a line was not sent (not UTF-8, or too long), the server closed "
        "with a reason, or the connection failed, 2 usage, 3 cannot connect, 4 handshake "
        "failed, 5 timed out."
    ),
    add_arguments=add_arguments,
    options=Options,
    run=run,
)
