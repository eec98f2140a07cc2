"""``wslab chat``: the I/O half. What to send and show is :mod:`client.chat`'s.

One loop per connection (:func:`_converse`) sends what is typed and shows what arrives; when
the connection drops, :func:`_reconnect` opens a new one after a jittered, growing delay,
resuming each room from its last seq. Standard input is a terminal (:class:`Terminal`: the
input stays on the bottom line) or a pipe (one line, one message).
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import contextlib
import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from typing import Any, TextIO, TypeVar

from wsdraft import Closed

from .chat import (
    ChatState,
    Command,
    Note,
    NotInRoom,
    Quit,
    backoff,
    chat_url,
    json_line,
    parse_line,
)
from .cli import CommandError, Environment, ExitStatus, _open, _read_lines
from .connection import Connection
from .display import format_message
from .exceptions import ConnectionClosed
from .lineedit import CLEAR_LINE, LineEditor, above_input, input_line

__all__ = ["run_chat"]

T = TypeVar("T")


async def run_chat(args: argparse.Namespace, env: Environment) -> ExitStatus:
    """``wslab chat``: talk in chat rooms; reconnect and resume when the connection drops."""
    state = ChatState(args.nick, args.room)
    ws = await _open(chat_url(args.url, args.nick, args.room), args, timeout=args.timeout)
    if env.interactive:
        print(f"connected to {args.url}; /help lists commands, Ctrl-D quits", file=env.stderr)
    with _console(env, state, as_json=args.json) as (output, source):
        lines = PendingLines(source)
        try:
            return await _chat(ws, state, lines, output, args)
        finally:
            lines.close()


@contextlib.contextmanager
def _console(
    env: Environment, state: ChatState, *, as_json: bool
) -> Iterator[tuple[Output, AsyncIterator[str]]]:
    """Where lines come from and go: a terminal for a person, else standard streams."""
    if env.interactive and env.stdout.isatty() and not as_json:
        with Terminal(env, state) as terminal:
            yield terminal, terminal.lines()
    else:
        yield Output(env, as_json=as_json), _read_lines(env.stdin)


class Output:
    """Shows events as readable lines, or as received with ``--json``; notes of the command
    itself (reconnecting...) go with the readable lines, or to standard error with ``--json``.
    """

    def __init__(self, env: Environment, *, as_json: bool = False) -> None:
        self.env = env
        self.as_json = as_json

    def received(self, text: str, lines: list[str]) -> None:
        """Show a received message: as it came with ``--json``, else as readable lines."""
        for line in [json_line(text)] if self.as_json else lines:
            self._emit(self.env.stdout, line)

    def note(self, line: str) -> None:
        """Show a line from the command itself: a hint, a mistake, a reconnection."""
        self._emit(self.env.stderr if self.as_json else self.env.stdout, line)

    def refresh(self) -> None:
        """Show a change of state (the current room); nothing to do in a pipe."""

    def _emit(self, stream: TextIO, line: str) -> None:
        stream.write(line + "\n")
        stream.flush()


class Terminal(Output):
    """A terminal in cbreak mode: lines are typed on the bottom line, shown above it."""

    def __init__(self, env: Environment, state: ChatState) -> None:
        super().__init__(env)
        self.state = state
        self.fd = env.stdin.fileno()
        self.editor = LineEditor()
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.typed: asyncio.Queue[str | None] = asyncio.Queue()
        self._saved: list[Any] = []  # termios attributes

    def __enter__(self) -> Terminal:
        import termios  # Unix only: only needed here
        import tty

        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)
        asyncio.get_running_loop().add_reader(self.fd, self._on_input)
        self.refresh()
        return self

    def __exit__(self, *exc_info: object) -> None:
        import termios

        asyncio.get_running_loop().remove_reader(self.fd)
        termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
        self.env.stdout.write(CLEAR_LINE)
        self.env.stdout.flush()

    async def lines(self) -> AsyncIterator[str]:
        while (line := await self.typed.get()) is not None:
            yield line

    def _on_input(self) -> None:
        data = os.read(self.fd, 4096)
        if not data:
            asyncio.get_running_loop().remove_reader(self.fd)
            self.typed.put_nowait(None)
            return
        for line in self.editor.feed(self.decoder.decode(data)):
            self.typed.put_nowait(line)
        self.refresh()

    def _prompt(self) -> str:
        room = self.state.current
        return f"{format_message(room)}> " if room is not None else "> "

    def _width(self) -> int:
        return shutil.get_terminal_size().columns

    def refresh(self) -> None:
        self.env.stdout.write(input_line(self._prompt(), self.editor.buffer, self._width()))
        self.env.stdout.flush()

    def _emit(self, stream: TextIO, line: str) -> None:
        text = above_input(line, self._prompt(), self.editor.buffer, self._width())
        self.env.stdout.write(text)
        self.env.stdout.flush()


class PendingLines:
    """Typed lines, one at a time: a line stays pending until :meth:`consume`, so a line
    typed while the connection is down is sent once it is back."""

    def __init__(self, source: AsyncIterator[str]) -> None:
        self._source = source
        self._next: asyncio.Task[str | None] | None = None

    def next(self) -> asyncio.Task[str | None]:
        """The next line (None at the end of input), pending or already there."""
        if self._next is None:
            self._next = asyncio.create_task(self._read())
        return self._next

    async def _read(self) -> str | None:
        return await anext(self._source, None)

    def consume(self) -> None:
        self._next = None

    def close(self) -> None:
        if self._next is not None:
            self._next.cancel()


def _is_quit(line: str | None) -> bool:
    return line is None or isinstance(parse_line(line), Quit)


async def _chat(
    ws: Connection,
    state: ChatState,
    lines: PendingLines,
    output: Output,
    args: argparse.Namespace,
) -> ExitStatus:
    while True:
        closed = await _converse(ws, state, lines, output)
        if closed is None:  # The person quit.
            return ExitStatus.SUCCESS
        if args.no_reconnect:
            if closed.error is not None:
                raise CommandError(ExitStatus.ERROR, f"connection failed: {closed.error}")
            return ExitStatus.SUCCESS
        reason = f"failed: {closed.error}" if closed.error is not None else "closed by the server"
        output.note(f"* connection {reason}")
        reopened = await _reconnect(state, lines, output, args)
        if reopened is None:
            return ExitStatus.SUCCESS
        ws, resume = reopened
        output.note("* reconnected")
        with contextlib.suppress(ConnectionClosed):  # _converse sees it and reconnects
            for message in resume:
                await ws.send(json.dumps(message))


async def _converse(
    ws: Connection, state: ChatState, lines: PendingLines, output: Output
) -> Closed | None:
    """Send typed lines and show events until the connection ends (return how) or the
    person quits (close it, return None)."""
    receiver = asyncio.create_task(_receive(ws, state, output))
    try:
        while True:
            line = lines.next()
            await asyncio.wait((receiver, line), return_when=asyncio.FIRST_COMPLETED)
            if receiver.done():
                return receiver.result()  # a pending line is sent on the next connection
            if _is_quit(line.result()):
                lines.consume()
                await ws.close()
                await receiver
                return None
            text = line.result()
            assert text is not None
            try:
                await _perform(ws, state, parse_line(text), output)
            except ConnectionClosed:
                return await receiver
            lines.consume()
    finally:
        receiver.cancel()


async def _perform(
    ws: Connection, state: ChatState, command: Command | None, output: Output
) -> None:
    if isinstance(command, Note):
        output.note(command.text)
    if command is None or isinstance(command, Note):
        return
    try:
        message = state.message_for(command)
    except NotInRoom as exc:
        output.note(f"! {exc}")
        return
    if message is not None:
        await ws.send(json.dumps(message))
    state.apply(command)
    output.refresh()


async def _receive(ws: Connection, state: ChatState, output: Output) -> Closed:
    with contextlib.suppress(ConnectionClosed):  # _chat reports how it ended.
        async for message in ws:
            text = message if isinstance(message, str) else format_message(message)
            output.received(text, state.receive(text))
    return await ws.wait_closed()


async def _reconnect(
    state: ChatState, lines: PendingLines, output: Output, args: argparse.Namespace
) -> tuple[Connection, list[dict[str, object]]] | None:
    """Open a new connection that resumes where the last one ended, after a delay that
    grows; None if the person quits meanwhile."""
    for delay in backoff():
        output.note(f"* reconnecting in {delay:.1f} s")
        if await _quits_before(asyncio.ensure_future(asyncio.sleep(delay)), lines):
            return None
        url, resume = state.resume(args.url, args.room)
        opening = asyncio.ensure_future(_open(url, args, timeout=args.timeout))
        if await _quits_before(opening, lines):
            return None
        try:
            return opening.result(), resume
        except CommandError as exc:
            output.note(f"! cannot reconnect: {exc}")
    raise AssertionError("backoff() never ends")


async def _quits_before(task: asyncio.Future[T], lines: PendingLines) -> bool:
    """Wait for ``task``; return True, cancelling it, if the person quits first.

    A line typed meanwhile that is not a quit stays pending, to be sent once connected.
    """
    line = lines.next()
    if not line.done():
        await asyncio.wait((task, line), return_when=asyncio.FIRST_COMPLETED)
    if line.done() and _is_quit(line.result()):
        lines.consume()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, CommandError):
            result = await task
            if isinstance(result, Connection):
                await result.close()
        return True
    await asyncio.wait((task,))
    return False
