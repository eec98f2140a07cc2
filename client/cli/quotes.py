"""``wslab quotes``: the I/O half. What to ask and show is :mod:`client.quotes`'s.

On each connection :class:`QuoteFeed` subscribes and shows what arrives through an
:class:`Output`: a line per quote in a pipe, each message as received with ``--json``
(:class:`JsonOutput`), or at a terminal a table redrawn in place (:class:`LiveTable`). When
the connection drops, :func:`client.cli.reconnect.stay_connected` reconnects and the feed
subscribes again: the snapshot that answers refreshes what is shown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TextIO

from wsdraft import parse_uri

from ..connection import Connection
from ..display import format_message, json_line, parse_object
from ..exceptions import ConnectionClosed
from ..quotes import (
    ALL,
    Board,
    Row,
    describe_error,
    format_line,
    format_symbols,
    list_request,
    parse_symbols,
    quotes_url,
    redraw,
    render_table,
    subscribe_request,
)
from .base import Command, CommandError, Environment, ExitStatus
from .options import (
    ConnectionOptions,
    HandshakeRefused,
    add_connection_options,
    checked_url,
    open_connection,
)
from .reconnect import (
    Conversation,
    Drop,
    Resume,
    add_reconnect_option,
    open_resumed,
    stay_connected,
)
from .terminal import cbreak

__all__ = ["COMMAND", "Options", "run"]


@dataclass(frozen=True, kw_only=True)
class Options:
    url: str
    symbols: list[str]
    all: bool
    list_symbols: bool  # --list
    json: bool
    ascii: bool
    no_reconnect: bool
    connection: ConnectionOptions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "url", help="the gateway, ws:// or wss://, e.g. ws://localhost:4502 (/stocks optional)"
    )
    parser.add_argument(
        "symbols",
        nargs="*",
        metavar="SYMBOL",
        help="a symbol to watch, such as MSFT; '*' (quoted) for every symbol",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="watch every symbol, as '*' does")
    which.add_argument(
        "--list",
        action="store_true",
        dest="list_symbols",
        help="print the symbols quoted and their names, and exit (waiting --timeout at most)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print each snapshot and quote as received, one JSON object per line",
    )
    parser.add_argument(
        "--ascii", action="store_true", help="show price moves as ^ and v instead of ▲ and ▼"
    )
    add_reconnect_option(parser)
    add_connection_options(parser)


# Errors of the gateway rather than of the request: worth subscribing again later.
_TRANSIENT = frozenset({"unavailable", "bus_down", "overloaded"})

_HIDE_CURSOR, _SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"


async def run(options: Options, env: Environment) -> ExitStatus:
    """Show live quotes; reconnect and subscribe again when the connection drops. With
    ``--list``: print the symbols quoted."""
    url = quotes_url(checked_url(options.url))
    if options.list_symbols:
        if options.symbols:
            raise CommandError(ExitStatus.USAGE, "--list takes no SYMBOL")
        return await _list(url, options, env)
    if options.all and options.symbols:
        raise CommandError(ExitStatus.USAGE, "--all takes no SYMBOL: it watches every symbol")
    symbols = parse_symbols([ALL] if options.all else options.symbols)
    if not symbols:
        raise CommandError(ExitStatus.USAGE, "name at least one SYMBOL, or use --all or --list")
    resume = (url, [subscribe_request(symbols)])
    with _hinting(options.url):
        ws = await open_resumed(resume, options.connection)
    board = Board(symbols)
    with _output(env, board, options) as output:
        feed = QuoteFeed(resume, board, output)
        return await stay_connected(feed, ws, options.connection, no_reconnect=options.no_reconnect)


@contextlib.contextmanager
def _output(env: Environment, board: Board, options: Options) -> Iterator[Output]:
    """Where quotes go: as received with ``--json``, a live table at a terminal that can
    move its cursor, else lines."""
    ascii = options.ascii or not _can_encode(env.stdout, "▲▼…")
    if options.json:
        yield JsonOutput(env, ascii=ascii)
    elif env.stdout.isatty() and os.environ.get("TERM") != "dumb":
        color = not os.environ.get("NO_COLOR")  # https://no-color.org
        # Typed keys are not echoed, so that they do not move the table.
        with (
            cbreak(env.stdin, drop_typed=True),
            LiveTable(env, board, ascii=ascii, color=color) as table,
        ):
            table.note(f"connected to {format_message(options.url)}; Ctrl-C quits")
            yield table
    else:
        yield Output(env, ascii=ascii)


@contextlib.contextmanager
def _hinting(typed: str) -> Iterator[None]:
    """Add a hint to a refusal of the handshake when the URL ``typed`` is neither the
    gateway's nor its quotes': the command added /stocks to another path, such as another
    service's (``ws://localhost:4502/chat``), which the gateway refuses."""
    try:
        yield
    except HandshakeRefused as exc:
        uri = parse_uri(typed)
        gateway = f"{'wss' if uri.secure else 'ws'}://{uri.authority}"
        tried, right = quotes_url(typed), quotes_url(gateway)
        if parse_uri(tried).resource == parse_uri(right).resource:
            raise
        hint = f"wslab quotes tried {tried}: give it the gateway, such as {gateway}, for {right}"
        raise CommandError(exc.status, f"{exc}; {hint}") from None


def _can_encode(stream: TextIO, text: str) -> bool:
    try:
        text.encode(stream.encoding or "utf-8")  # A StringIO has no encoding.
    except (UnicodeEncodeError, LookupError):
        return False
    return True


class Output:
    """Shows each quote as a line; notes of the command itself (reconnecting...) go to
    standard error, so that standard output holds quotes only."""

    def __init__(self, env: Environment, *, ascii: bool) -> None:
        self.env = env
        self.ascii = ascii

    def received(self, text: str, rows: list[Row]) -> None:
        """Show a ``snapshot`` or ``quote`` message, ``text``, which changed ``rows``."""
        self._write(self.env.stdout, [format_line(row, ascii=self.ascii) for row in rows])

    def note(self, line: str) -> None:
        """Show a line from the command itself."""
        self._write(self.env.stderr, [line])

    def _write(self, stream: TextIO, lines: Sequence[str]) -> None:
        if lines:
            stream.write("".join(line + "\n" for line in lines))
            stream.flush()


class JsonOutput(Output):
    """Shows each ``snapshot`` and ``quote`` message as received, one per line."""

    def received(self, text: str, rows: list[Row]) -> None:
        self._write(self.env.stdout, [json_line(text)])


class LiveTable(Output):
    """A terminal: the board as a table at the bottom, redrawn in place with each quote;
    notes scroll above it."""

    def __init__(self, env: Environment, board: Board, *, ascii: bool, color: bool) -> None:
        super().__init__(env, ascii=ascii)
        self.board = board
        self.color = color
        self._drawn = 0  # lines of the table above the cursor

    def __enter__(self) -> LiveTable:
        self.env.stdout.write(_HIDE_CURSOR)
        self._draw()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.env.stdout.write(_SHOW_CURSOR)
        self.env.stdout.flush()

    def received(self, text: str, rows: list[Row]) -> None:
        self._draw()

    def note(self, line: str) -> None:
        self._draw([line])

    def _draw(self, notes: Sequence[str] = ()) -> None:
        size = shutil.get_terminal_size()
        lines = render_table(
            self.board, width=size.columns, height=size.lines, color=self.color, ascii=self.ascii
        )
        self.env.stdout.write(redraw(self._drawn, notes, lines))
        self.env.stdout.flush()
        self._drawn = len(lines)


class QuoteFeed(Conversation):
    """Subscribes on each connection and shows the quotes that arrive.

    An error from the service ends the command, except ``unavailable``, ``bus_down`` and
    ``overloaded`` once a subscription went through: then the service (or the gateway)
    may be back soon, and the feed reconnects as after a drop.
    """

    def __init__(self, resume: Resume, board: Board, output: Output) -> None:
        self._resume = resume
        self.board = board
        self.output = output
        self.subscribed = False  # a subscription went through once

    def resume(self) -> Resume:
        return self._resume

    def note(self, line: str) -> None:
        self.output.note(line)

    async def converse(self, ws: Connection) -> Drop | None:
        with contextlib.suppress(ConnectionClosed):  # stay_connected reports how it ended.
            async for message in ws:
                text = message if isinstance(message, str) else format_message(message)
                event = parse_object(text) or {}
                kind = event.get("type")
                if kind == "error":
                    return await self._error(ws, event)
                self.subscribed = self.subscribed or kind in ("subscribed", "snapshot", "quote")
                if kind in ("snapshot", "quote"):
                    self.output.received(text, self.board.receive(event))
        return Drop.of(await ws.wait_closed())

    async def _error(self, ws: Connection, event: dict[str, object]) -> Drop:
        await ws.close()
        if self.subscribed and event.get("code") in _TRANSIENT:
            return Drop(describe_error(event), failed=True, refused=True)
        raise CommandError(ExitStatus.ERROR, describe_error(event))


async def _list(url: str, options: Options, env: Environment) -> ExitStatus:
    """``wslab quotes --list``: print the symbols quoted at ``url``, waiting ``--timeout``
    at most."""
    with _hinting(options.url):
        ws = await open_connection(url, options.connection)
    try:
        async with asyncio.timeout(options.connection.open_timeout):
            await ws.send(json.dumps(list_request()))
            async for message in ws:
                text = message if isinstance(message, str) else format_message(message)
                event = parse_object(text) or {}
                if event.get("type") == "error":
                    raise CommandError(ExitStatus.ERROR, describe_error(event))
                if event.get("type") == "symbols":
                    lines = [json_line(text)] if options.json else format_symbols(event)
                    env.stdout.write("".join(line + "\n" for line in lines))
                    env.stdout.flush()
                    return ExitStatus.SUCCESS
    except TimeoutError:
        message = f"no list of symbols after {options.connection.open_timeout:g} s"
        raise CommandError(ExitStatus.TIMEOUT, message) from None
    except ConnectionClosed as exc:
        raise CommandError(ExitStatus.ERROR, str(exc)) from None
    finally:
        await ws.close()
    raise CommandError(ExitStatus.ERROR, "connection closed before the list of symbols came")


COMMAND = Command(
    name="quotes",
    help="watch live stock quotes",
    description=(
        "Subscribe to the quotes of each SYMBOL at URL/stocks and show them: at a "
        "terminal, a table updated in place; in a pipe, a line per quote; with --json, "
        "each snapshot and quote as received. If the connection drops, it reconnects "
        "and subscribes again. Runs until Ctrl-C (exit 130): 1 the service answered "
        "with an error (or the connection failed, with --no-reconnect), 2 usage, 3 "
        "cannot connect, 4 handshake failed, 5 timed out."
    ),
    add_arguments=add_arguments,
    options=Options,
    run=run,
)
