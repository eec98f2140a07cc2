"""The ``wslab`` command: ``wslab connect``, ``replay``, ``chat`` and ``quotes``.

``main`` parses the arguments and turns every failure into a one-line message and an
:class:`ExitStatus`; the commands themselves have no error handling.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import enum
import os
import ssl
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from python_socks import ProxyError

from wsdraft import (
    HandshakeRejected,
    InvalidHello,
    InvalidResponse,
    InvalidURI,
    Limits,
    parse_uri,
)

from .connection import Connection, connect
from .display import format_message
from .exceptions import ConnectionClosed
from .network import ProxySetting, make_ssl_context
from .session import Recorder

__all__ = ["Environment", "ExitStatus", "format_message", "main"]


@enum.unique
class ExitStatus(enum.IntEnum):
    """What ``wslab`` exits with."""

    SUCCESS = 0  # connect: the connection closed cleanly; replay: every expectation was met
    # connect: the connection failed once open; replay: an expectation was not met; quotes:
    # the service answered with an error. Also: standard output was closed (`| head`).
    ERROR = 1
    USAGE = 2  # bad arguments, URL or session file
    CONNECT_FAILED = 3  # the server or proxy cannot be reached, or TLS failed
    HANDSHAKE_FAILED = 4  # the server rejected the handshake or broke it
    TIMEOUT = 5  # the connection did not open in time
    CTRL_C = 130  # 128 + SIGINT


@dataclass
class Environment:
    """Where the command reads and writes; tests replace the streams."""

    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)

    @property
    def interactive(self) -> bool:
        """True when a person types at a terminal, so hints on stderr are welcome."""
        return self.stdin.isatty()


class CommandError(Exception):
    """A failure the command reports as one line, with its exit status."""

    def __init__(self, status: ExitStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wslab",
        description="Talk to servers of the 2010 GET+Upgrade+HELLO WebSocket draft.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    connect_parser = commands.add_parser(
        "connect",
        help="send standard input line by line, print what comes back",
        description=(
            "Open a connection; send each line of standard input as a text message and print "
            "each message received as one line. Binary messages print as "
            "'[binary N bytes] HEX'. Exits 0 on a clean close: 1 connection failed, "
            "2 usage, 3 cannot connect, 4 handshake failed, 5 timed out."
        ),
    )
    connect_parser.set_defaults(run=run_connect)
    connect_parser.add_argument("url", help="ws:// or wss:// URL")
    _add_connection_options(connect_parser)
    connect_parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=Limits().handshake_timeout,
        metavar="SECONDS",
        help="how long opening may take (default: %(default)s)",
    )
    connect_parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="after standard input ends, keep printing messages this long before closing",
    )
    recording = connect_parser.add_mutually_exclusive_group()
    recording.add_argument(
        "--binary", action="store_true", help="send lines as binary messages instead of text"
    )
    recording.add_argument(
        "--record",
        metavar="FILE",
        help="write what was sent and received as a session file, for wslab replay",
    )

    replay_parser = commands.add_parser(
        "replay",
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
    )
    replay_parser.set_defaults(run=run_replay)
    replay_parser.add_argument("sessions", nargs="+", metavar="SESSION", help="session file (JSON)")
    replay_parser.add_argument(
        "--url",
        required=True,
        help="the server, ws:// or wss://; each connection's path is appended to it",
    )
    replay_parser.add_argument(
        "--speed",
        type=_non_negative_float,
        default=1.0,
        metavar="X",
        help="play X times as fast as recorded; 0: as fast as possible (default: 1)",
    )
    replay_parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=5.0,
        metavar="SECONDS",
        help="how long an expectation waits, unless its step has a timeout (default: 5)",
    )
    replay_parser.add_argument(
        "--open-timeout",
        type=_positive_float,
        default=Limits().handshake_timeout,
        metavar="SECONDS",
        help="how long opening a connection may take (default: %(default)s)",
    )
    replay_parser.add_argument(
        "--copies",
        type=_positive_int,
        default=1,
        metavar="N",
        help="play N copies of each session at once, with nicknames and rooms of their own, "
        "and summarise them (default: 1, reported as a line)",
    )
    replay_parser.add_argument(
        "--concurrency",
        type=_positive_int,
        metavar="C",
        help="with --copies: play at most C copies at a time (default: N, at most 50)",
    )
    replay_parser.add_argument(
        "--json",
        action="store_true",
        help="print each session's summary as one JSON object per line, even for one copy",
    )
    _add_connection_options(replay_parser)

    chat_parser = commands.add_parser(
        "chat",
        help="talk in the gateway's chat rooms",
        description=(
            "Connect to URL/chat as NICK in ROOM. Typed lines are said in the current room; "
            "/join ROOM, /leave [ROOM], /rooms, /msg NICK TEXT and /quit (or Ctrl-D) are "
            "commands. Events print as readable lines, or as received with --json. If the "
            "connection drops, it reconnects and prints the messages missed. Exits 0 when "
            "you quit: 1 connection failed (--no-reconnect), 2 usage, 3 cannot connect, "
            "4 handshake failed, 5 timed out."
        ),
    )
    chat_parser.set_defaults(run=run_chat)
    chat_parser.add_argument("url", help="the gateway, ws:// or wss://, e.g. ws://localhost:4502")
    chat_parser.add_argument("--nick", required=True, metavar="NAME", help="your nickname")
    chat_parser.add_argument(
        "--room", default="lobby", help="the room to join first (default: %(default)s)"
    )
    chat_parser.add_argument(
        "--json",
        action="store_true",
        help="print each message received as it came, one JSON object per line",
    )
    _add_reconnect_options(chat_parser)
    _add_connection_options(chat_parser)

    quotes_parser = commands.add_parser(
        "quotes",
        help="watch live stock quotes",
        description=(
            "Subscribe to the quotes of each SYMBOL at URL/stocks and show them: at a "
            "terminal, a table updated in place; in a pipe, a line per quote; with --json, "
            "each snapshot and quote as received. If the connection drops, it reconnects "
            "and subscribes again. Runs until Ctrl-C (exit 130): 1 the service answered "
            "with an error (or the connection failed, with --no-reconnect), 2 usage, 3 "
            "cannot connect, 4 handshake failed, 5 timed out."
        ),
    )
    quotes_parser.set_defaults(run=run_quotes)
    quotes_parser.add_argument(
        "url", help="the gateway, ws:// or wss://, e.g. ws://localhost:4502 (/stocks optional)"
    )
    quotes_parser.add_argument(
        "symbols",
        nargs="*",
        metavar="SYMBOL",
        help="a symbol to watch, such as MSFT; '*' (quoted) for every symbol",
    )
    which = quotes_parser.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="watch every symbol, as '*' does")
    which.add_argument(
        "--list",
        action="store_true",
        help="print the symbols quoted and their names, and exit (waiting --timeout at most)",
    )
    quotes_parser.add_argument(
        "--json",
        action="store_true",
        help="print each snapshot and quote as received, one JSON object per line",
    )
    quotes_parser.add_argument(
        "--ascii", action="store_true", help="show price moves as ^ and v instead of ▲ and ▼"
    )
    _add_reconnect_options(quotes_parser)
    _add_connection_options(quotes_parser)

    token_parser = commands.add_parser(
        "token",
        help="mint a token for a gateway in token mode",
        description=(
            "Print a token for USER, signed with the gateway's secret (HS256), for a"
            " gateway with WSLAB_AUTH=token: pass it to any command with --token, or set"
            " WSLAB_TOKEN. The user is their chat nickname. For development: a real"
            " deployment mints tokens in its own login service."
        ),
    )
    token_parser.set_defaults(run=run_token)
    token_parser.add_argument("user", help="the token's subject: the user's nickname")
    token_parser.add_argument(
        "--secret",
        default=os.environ.get("WSLAB_TOKEN_SECRET"),
        help="the gateway's signing secret (default: WSLAB_TOKEN_SECRET)",
    )
    token_parser.add_argument(
        "--audience", default="wslab", help="the gateway's audience (default: %(default)s)"
    )
    token_parser.add_argument(
        "--ttl",
        type=_positive_float,
        default=3600.0,
        metavar="SECONDS",
        help="how long the token is valid (default: %(default)s)",
    )
    token_parser.add_argument(
        "--room",
        action="append",
        dest="rooms",
        metavar="PATTERN",
        help="a room the user may enter, * matching any characters (repeat it; default:"
        " every room)",
    )

    bench_parser = commands.add_parser(
        "bench",
        help="load a deployment and measure deliveries, latency and loss",
        description=(
            "Open N connections to the gateway at URL and run a scenario: chat (N members "
            "of one new room, some saying lines at --rate; every line is delivered to every "
            "member) or quotes (N subscribers to --symbols at /stocks). Only what arrives "
            "after --warmup counts. Prints deliveries per second, latency percentiles, "
            "lines lost, errors by code and the gateway's own counters from /metrics; "
            "with --json, one JSON object. Exit 1 if a delivery was lost or an error came."
        ),
    )
    bench_parser.set_defaults(run=run_bench)
    bench_parser.add_argument("url", help="the gateway, ws:// or wss://, e.g. ws://localhost:4502")
    bench_parser.add_argument("--scenario", choices=["chat", "quotes"], default="chat")
    bench_parser.add_argument(
        "--protocol",
        choices=["draft", "rfc6455"],
        default="draft",
        help="the wire protocol (rfc6455 needs the websockets library; default: %(default)s)",
    )
    bench_parser.add_argument(
        "-c",
        "--connections",
        type=_positive_int,
        default=100,
        metavar="N",
        help="connections to open (default: %(default)s)",
    )
    bench_parser.add_argument(
        "--rate",
        type=_positive_float,
        default=10.0,
        metavar="LINES",
        help="chat: lines per second, all senders together (default: %(default)s)",
    )
    bench_parser.add_argument(
        "--senders",
        type=_positive_int,
        metavar="S",
        help="chat: connections that say lines (default: enough for 4 lines/s each, under"
        " the chat's rate limit)",
    )
    bench_parser.add_argument(
        "--symbols", nargs="+", metavar="SYMBOL", help="quotes: the symbols (default: '*', all)"
    )
    bench_parser.add_argument(
        "--duration",
        type=_positive_float,
        default=10.0,
        metavar="SECONDS",
        help="seconds measured (default: %(default)s)",
    )
    bench_parser.add_argument(
        "--warmup",
        type=_non_negative_float,
        default=2.0,
        metavar="SECONDS",
        help="seconds before measuring (default: %(default)s)",
    )
    bench_parser.add_argument(
        "--drain",
        type=_non_negative_float,
        default=10.0,
        metavar="SECONDS",
        help="chat: seconds to wait at most for the last lines (default: %(default)s)",
    )
    bench_parser.add_argument("--json", action="store_true", help="print the report as JSON")
    bench_parser.add_argument(
        "--processes",
        type=_positive_int,
        default=1,
        metavar="N",
        help="split the connections among N worker processes, for when one cannot keep up"
        " (default: %(default)s)",
    )
    _add_timeout_option(bench_parser)
    _add_connection_options(bench_parser)
    return parser


def _add_reconnect_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-reconnect",
        action="store_true",
        help="exit when the connection drops instead of reconnecting",
    )
    _add_timeout_option(parser)


def _add_timeout_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=Limits().handshake_timeout,
        metavar="SECONDS",
        help="how long opening a connection may take (default: %(default)s)",
    )


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--origin", help="Origin header (default: the URL's origin)")
    parser.add_argument("--subprotocol", help="subprotocol to ask for")
    proxy = parser.add_mutually_exclusive_group()
    proxy.add_argument(
        "--proxy",
        metavar="URL",
        help="proxy to connect through, http://HOST:PORT or socks5://HOST:PORT "
        "(default: HTTP_PROXY or HTTPS_PROXY unless NO_PROXY matches)",
    )
    proxy.add_argument(
        "--no-proxy", action="store_true", help="connect directly, ignoring the environment"
    )
    parser.add_argument("--cacert", metavar="FILE", help="trust the CAs in this PEM file")
    parser.add_argument(
        "--insecure", action="store_true", help="do not verify the server's certificate"
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("WSLAB_TOKEN"),
        help="present this token (Authorization: Bearer), for a gateway in token mode"
        " (default: WSLAB_TOKEN; `wslab token` makes one)",
    )


def _positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        msg = f"must be positive: {value}"
        raise argparse.ArgumentTypeError(msg)
    return number


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        msg = f"must be 1 or more: {value}"
        raise argparse.ArgumentTypeError(msg)
    return number


def _non_negative_float(value: str) -> float:
    number = float(value)
    if not 0 <= number < float("inf"):
        msg = f"must be 0 or more: {value}"
        raise argparse.ArgumentTypeError(msg)
    return number


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> int:
    """Run ``wslab`` and return its exit status."""
    env = env or Environment()
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(args.run(args, env))  # type: ignore[no-any-return]
    except CommandError as exc:
        status, message = exc.status, str(exc)
    except KeyboardInterrupt:
        return ExitStatus.CTRL_C
    except BrokenPipeError:  # The reader of standard output is gone, as `| head` does.
        _discard(env.stdout)
        return ExitStatus.ERROR
    print(f"wslab: {message}", file=env.stderr)
    return status


def _discard(stream: TextIO) -> None:
    """Send what ``stream`` still buffers to /dev/null, so that Python's final flush does
    not fail on the closed pipe again (as the signal module's documentation advises)."""
    with contextlib.suppress(OSError, ValueError):  # not a file: nothing to do
        fd = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)


async def run_connect(args: argparse.Namespace, env: Environment) -> ExitStatus:
    """``wslab connect``: pipe standard input to the connection and messages to stdout."""
    ws = await _open(args.url, args, timeout=args.timeout)
    recorder = Recorder(parse_uri(args.url).resource) if args.record else None
    if env.interactive:
        print(f"connected to {args.url}; Ctrl-D closes", file=env.stderr)
    printer = asyncio.create_task(_print_messages(ws, env.stdout, recorder))
    lines = _read_lines(env.stdin)
    sender = asyncio.create_task(_send_lines(ws, lines, binary=args.binary, recorder=recorder))
    await asyncio.wait((printer, sender), return_when=asyncio.FIRST_COMPLETED)
    if sender.done():
        sender.result()
        if args.wait > 0:
            await asyncio.wait((printer,), timeout=args.wait)
        closed = await ws.close()
    else:  # The connection ended, or printing failed (standard output was closed).
        sender.cancel()
        closed = await (ws.wait_closed() if printer.exception() is None else ws.close())
    await printer
    if recorder is not None:
        _write_recording(args.record, recorder)
    if closed.error is not None:
        raise CommandError(ExitStatus.ERROR, f"connection failed: {closed.error}")
    return ExitStatus.SUCCESS


def _write_recording(path: str, recorder: Recorder) -> None:
    try:
        Path(path).write_text(recorder.to_json(Path(path).stem), encoding="utf-8")
    except OSError as exc:
        message = f"cannot write the recording to {path}: {exc.strerror or exc}"
        raise CommandError(ExitStatus.ERROR, message) from None


async def run_replay(args: argparse.Namespace, env: Environment) -> ExitStatus:
    """``wslab replay``: see :mod:`client.replay_command`, which imports this module."""
    from .replay_command import run_replay_command

    return await run_replay_command(args, env)


async def run_chat(args: argparse.Namespace, env: Environment) -> ExitStatus:
    """``wslab chat``: see :mod:`client.chat_command`, which imports this module."""
    from .chat_command import run_chat as chat

    return await chat(args, env)


async def run_quotes(args: argparse.Namespace, env: Environment) -> ExitStatus:
    """``wslab quotes``: see :mod:`client.quotes_command`, which imports this module."""
    from .quotes_command import run_quotes as quotes

    return await quotes(args, env)


async def run_token(args: argparse.Namespace, env: Environment) -> ExitStatus:
    """``wslab token``: print a token minted by :func:`client.token_command.mint`."""
    from .token_command import mint

    if not args.secret:
        raise CommandError(ExitStatus.USAGE, "no secret: give --secret or set WSLAB_TOKEN_SECRET")
    token = mint(
        args.user,
        args.secret,
        now=time.time(),
        ttl=args.ttl,
        audience=args.audience,
        rooms=args.rooms,
    )
    print(token, file=env.stdout)
    return ExitStatus.SUCCESS


async def run_bench(args: argparse.Namespace, env: Environment) -> ExitStatus:
    """``wslab bench``: see :mod:`client.bench_command`, which imports this module."""
    from .bench_command import run_bench_command

    return await run_bench_command(args, env)


async def _open(
    url: str,
    args: argparse.Namespace,
    *,
    timeout: float,
    max_queue: int = 16,
    context: ssl.SSLContext | None = None,
) -> Connection:
    """Open a connection to ``url`` with the options of ``args``; raise a CommandError.

    ``context`` is the TLS context made from ``args``, for a caller opening many
    connections: making one loads the system's CAs, about 50 ms that block the event loop.
    """
    proxy: ProxySetting = None if args.no_proxy else (args.proxy or True)
    context = context or make_ssl_context(cafile=args.cacert, insecure=args.insecure)
    try:
        return await connect(
            url,
            origin=args.origin,
            subprotocol=args.subprotocol,
            proxy=proxy,
            ssl=context,
            limits=Limits(handshake_timeout=timeout),
            max_queue=max_queue,
            headers=[("Authorization", f"Bearer {args.token}")] if args.token else (),
        )
    except InvalidURI as exc:
        raise CommandError(ExitStatus.USAGE, str(exc)) from None
    except HandshakeRejected as exc:
        raise CommandError(ExitStatus.HANDSHAKE_FAILED, str(exc)) from None
    except (InvalidResponse, InvalidHello) as exc:
        raise CommandError(ExitStatus.HANDSHAKE_FAILED, f"invalid handshake: {exc}") from None
    except TimeoutError as exc:
        raise CommandError(ExitStatus.TIMEOUT, str(exc) or "timed out") from None
    except ssl.SSLError as exc:
        raise CommandError(ExitStatus.CONNECT_FAILED, f"TLS failed: {exc}") from None
    except (ProxyError, OSError) as exc:
        where = f"proxy {proxy}" if isinstance(proxy, str) else url
        raise CommandError(ExitStatus.CONNECT_FAILED, f"cannot connect to {where}: {exc}") from None


async def _read_lines(stream: TextIO) -> AsyncIterator[str]:
    """Yield lines of ``stream`` without their line ending.

    A daemon thread reads, so reading works on terminals, pipes and files alike and never
    keeps the program alive; a semaphore bounds how far it reads ahead. (It hands lines over
    with callbacks rather than coroutines, which would be left never awaited, with a
    warning, when the program ends while it reads.)
    """
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    ahead = threading.Semaphore(64)

    def read() -> None:
        try:
            for line in stream:
                ahead.acquire()
                loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\r\n"))
            loop.call_soon_threadsafe(lines.put_nowait, None)
        except RuntimeError:
            pass  # The event loop is closed: the program is ending.

    threading.Thread(target=read, name="wslab-stdin", daemon=True).start()
    while (line := await lines.get()) is not None:
        ahead.release()
        yield line


async def _send_lines(
    ws: Connection,
    lines: AsyncIterator[str],
    *,
    binary: bool,
    recorder: Recorder | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    opened = loop.time()
    with contextlib.suppress(ConnectionClosed):  # run_connect reports how it ended.
        async for line in lines:
            if recorder is not None:  # before sending: a reply may come back at once
                recorder.sent(loop.time() - opened, line)
            await ws.send(line.encode() if binary else line)


async def _print_messages(ws: Connection, stdout: TextIO, recorder: Recorder | None) -> None:
    with contextlib.suppress(ConnectionClosed):  # run_connect reports how it ended.
        async for message in ws:
            if recorder is not None:
                recorder.received(message)
            stdout.write(format_message(message) + "\n")
            stdout.flush()
