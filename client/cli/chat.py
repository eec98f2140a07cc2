"""``wslab chat``: the I/O half. What to send and show is :mod:`client.chat`'s.

Over each connection, :class:`ChatSession` sends what is typed and shows what arrives; when
the connection drops, :func:`client.cli.reconnect.stay_connected` opens a new one after a
jittered, growing delay, resuming each room from its last seq. Standard input is a terminal
(:class:`Terminal`: the input stays on the bottom line) or a pipe (one line, one message).
Each line is sent once the server has answered the one before, as the room a line is said
in may depend on it (``/join``); when the input ends, the answers still due are awaited.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import contextlib
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from ..chat import NAME_RULE, ChatState, Note, NotInRoom, Quit, is_valid_name, parse_line
from ..chat import Command as ChatCommand
from ..connection import Connection
from ..display import format_message, json_line, parse_object
from ..exceptions import ConnectionClosed
from ..lineedit import CLEAR_LINE, LineEditor, above_input, input_line
from .base import Command, CommandError, Environment, ExitStatus
from .options import ConnectionOptions, add_connection_options, checked_url
from .reconnect import (
    Conversation,
    Drop,
    Resume,
    add_reconnect_option,
    open_resumed,
    stay_connected,
)
from .terminal import cbreak, read_lines

__all__ = ["ANSWER_TIMEOUT", "COMMAND", "Options", "run"]

#: Seconds to wait for the server to answer a message, before sending the next line (or
#: closing, at the end of the input) without the answer.
ANSWER_TIMEOUT = 5.0


@dataclass(frozen=True, kw_only=True)
class Options:
    url: str
    nick: str | None
    room: str
    json: bool
    timestamps: bool
    no_reconnect: bool
    connection: ConnectionOptions


def _name(kind: str) -> Callable[[str], str]:
    """An argparse type taking a nickname or a room name as the chat does, or failing with
    why: the chat would replace a bad nickname with a guest's, and a bad room with lobby."""

    def name(value: str) -> str:
        if not is_valid_name(value):
            msg = f"{value!r} is not a {kind}: {kind}s are {NAME_RULE}"
            raise argparse.ArgumentTypeError(msg)
        return value

    return name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="the gateway, ws:// or wss://, e.g. ws://localhost:4502")
    parser.add_argument(
        "--nick",
        type=_name("nickname"),
        metavar="NAME",
        help="your nickname; required, unless a token (--token) names you",
    )
    parser.add_argument(
        "--room",
        default="lobby",
        type=_name("room name"),
        help="the room to join first (default: %(default)s)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print each message received as it came, one JSON object per line",
    )
    parser.add_argument(
        "--timestamps",
        action="store_true",
        help="show the time of each live message too, as history messages always do",
    )
    add_reconnect_option(parser)
    add_connection_options(parser)


async def run(options: Options, env: Environment) -> ExitStatus:
    """Talk in chat rooms; reconnect and resume when the connection drops."""
    if options.nick is None and options.connection.token is None:
        raise CommandError(ExitStatus.USAGE, "--nick is required, unless --token names you")
    # With a token, its subject is the nickname: the welcome says it.
    state = ChatState(options.nick or "", timestamps=options.timestamps)
    url = checked_url(options.url)
    ws = await open_resumed(state.resume(url, options.room), options.connection)
    if env.interactive:
        print(f"connected to {options.url}; /help lists commands, Ctrl-D quits", file=env.stderr)
    with _console(env, state, as_json=options.json) as (output, source):
        lines = PendingLines(source)
        session = ChatSession(state, lines, output, options)
        try:
            return await stay_connected(
                session, ws, options.connection, no_reconnect=options.no_reconnect
            )
        finally:
            lines.close()


@contextlib.contextmanager
def _console(
    env: Environment, state: ChatState, *, as_json: bool
) -> Iterator[tuple[Output, AsyncIterator[str]]]:
    """Where lines come from and go: a terminal for a person, else standard streams."""
    if env.interactive and env.stdout.isatty() and not as_json:
        with cbreak(env.stdin), Terminal(env, state) as terminal:
            yield terminal, terminal.lines()
    else:
        yield Output(env, as_json=as_json), read_lines(env.stdin)


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
    """A terminal in cbreak mode (:func:`cbreak`): lines are typed on the bottom line, shown
    above it."""

    def __init__(self, env: Environment, state: ChatState) -> None:
        super().__init__(env)
        self.state = state
        self.fd = env.stdin.fileno()
        self.editor = LineEditor()
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.typed: asyncio.Queue[str | None] = asyncio.Queue()

    def __enter__(self) -> Terminal:
        asyncio.get_running_loop().add_reader(self.fd, self._on_input)
        self.refresh()
        return self

    def __exit__(self, *exc_info: object) -> None:
        asyncio.get_running_loop().remove_reader(self.fd)
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
        """The terminal's width now, asked of the terminal itself: ``COLUMNS`` in the
        environment, which shutil.get_terminal_size prefers, is often stale or inherited."""
        return os.get_terminal_size(self.env.stdout.fileno()).columns

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


class ChatSession(Conversation):
    """Typed lines sent, events shown, over each connection until the person quits."""

    def __init__(
        self, state: ChatState, lines: PendingLines, output: Output, options: Options
    ) -> None:
        self.state = state
        self.lines = lines
        self.output = output
        self.options = options
        self.answered = asyncio.Event()  # set once nothing sent awaits an answer

    def resume(self) -> Resume:
        return self.state.resume(self.options.url, self.options.room)

    def note(self, line: str) -> None:
        self.output.note(line)

    async def converse(self, ws: Connection) -> Drop | None:
        receiver = asyncio.create_task(self._receive(ws, resumed=self.state.welcomed))
        try:
            while True:
                await self._answers(receiver)
                line = self.lines.next()
                await asyncio.wait((receiver, line), return_when=asyncio.FIRST_COMPLETED)
                if receiver.done():  # a pending line is sent on the next connection
                    return receiver.result()
                if _is_quit(line.result()):
                    self.lines.consume()
                    await ws.close()
                    await receiver
                    return None
                text = line.result()
                assert text is not None
                try:
                    await self._perform(ws, parse_line(text))
                except ConnectionClosed:
                    return await receiver
                self.lines.consume()
        finally:
            receiver.cancel()

    async def _perform(self, ws: Connection, command: ChatCommand | None) -> None:
        if isinstance(command, Note):
            self.output.note(command.text)
        if command is None or isinstance(command, Note):
            return
        try:
            message = self.state.message_for(command)
        except NotInRoom as exc:
            self.output.note(f"! {exc}")
            return
        if message is not None:
            self.state.expect(message)  # before sending: the answer may come at once
            await ws.send(json.dumps(message))
        self.state.apply(command)
        self.output.refresh()

    async def _answers(self, receiver: asyncio.Task[Drop]) -> None:
        """Wait until the server has answered every message sent, or the connection ends,
        for ANSWER_TIMEOUT at most: then go on without the answers still due."""
        if not self.state.awaited:
            return
        self.answered.clear()
        answered = asyncio.ensure_future(self.answered.wait())
        try:
            done, _ = await asyncio.wait(
                (receiver, answered), timeout=ANSWER_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            answered.cancel()
        if not done:
            self.state.awaited.clear()

    async def _receive(self, ws: Connection, *, resumed: bool) -> Drop:
        """Show what arrives until the connection closes; return how it dropped.

        ``nick_taken`` on the first connection means that someone else has the nickname:
        the command ends, as the person has to choose another. On a connection that resumes
        the conversation, it means that the gateway has not yet seen the previous
        connection go: the chat sweeps such ghosts within seconds (docs/BUS.md, "Chat
        state"), so this connection is closed and a later one tries again.

        Raises:
            CommandError: the nickname is taken.
        """
        with contextlib.suppress(ConnectionClosed):  # converse reports how it ended.
            async for message in ws:
                text = message if isinstance(message, str) else format_message(message)
                event = parse_object(text)
                taken = event is not None and event.get("code") == "nick_taken"
                if taken and resumed:
                    await ws.close()
                    reason = f"{self.state.nick} is still taken by the connection that dropped"
                    return Drop(reason, failed=True, refused=True)
                self.output.received(text, self.state.receive(text))
                if taken:
                    await ws.close()
                    reason = f"the nickname {self.state.nick} is taken; choose another --nick"
                    raise CommandError(ExitStatus.ERROR, reason)
                if not self.state.awaited:
                    self.answered.set()
        return Drop.of(await ws.wait_closed())

    async def quits_before(self, task: asyncio.Future[Any]) -> bool:
        """Wait for ``task``; return True, cancelling it, if the person quits first.

        A line typed meanwhile that is not a quit stays pending, to be sent once connected.
        """
        line = self.lines.next()
        if not line.done():
            await asyncio.wait((task, line), return_when=asyncio.FIRST_COMPLETED)
        if line.done() and _is_quit(line.result()):
            self.lines.consume()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, CommandError):
                result = await task
                if isinstance(result, Connection):
                    await result.close()
            return True
        await asyncio.wait((task,))
        return False


COMMAND = Command(
    name="chat",
    help="talk in the gateway's chat rooms",
    description=(
        "Connect to URL/chat as NICK in ROOM. Typed lines are said in the current room; "
        "/join ROOM, /leave [ROOM], /rooms, /msg NICK TEXT and /quit (or Ctrl-D) are "
        "commands. Events print as readable lines, or as received with --json. Each line "
        "is sent once the server answered the one before; at the end of the input, the "
        "answers still due are awaited (5 s at most). If the connection drops, it "
        "reconnects and prints the messages missed. Exits 0 when you quit: 1 the nickname "
        "is taken or the connection failed (--no-reconnect), 2 usage (a bad nickname or "
        "room name too), 3 cannot connect, 4 handshake failed, 5 timed out."
    ),
    add_arguments=add_arguments,
    options=Options,
    run=run,
)
