"""The ``wslab`` command.

``main`` parses the arguments and turns every failure into a one-line message and an
:class:`ExitStatus`; the commands themselves have no error handling.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import enum
import re
import ssl
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from python_socks import ProxyError

from wsdraft import (
    HandshakeRejected,
    InvalidHello,
    InvalidResponse,
    InvalidURI,
    Limits,
)

from .connection import Connection, connect
from .exceptions import ConnectionClosed
from .network import ProxySetting, make_ssl_context

__all__ = ["Environment", "ExitStatus", "main"]


@enum.unique
class ExitStatus(enum.IntEnum):
    """What ``wslab`` exits with."""

    SUCCESS = 0  # the connection closed cleanly
    ERROR = 1  # the connection failed once open
    USAGE = 2  # bad arguments or URL
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
    connect_parser.add_argument("--origin", help="Origin header (default: the URL's origin)")
    connect_parser.add_argument("--subprotocol", help="subprotocol to ask for")
    proxy = connect_parser.add_mutually_exclusive_group()
    proxy.add_argument(
        "--proxy",
        metavar="URL",
        help="proxy to connect through, http://HOST:PORT or socks5://HOST:PORT "
        "(default: HTTP_PROXY or HTTPS_PROXY unless NO_PROXY matches)",
    )
    proxy.add_argument(
        "--no-proxy", action="store_true", help="connect directly, ignoring the environment"
    )
    connect_parser.add_argument("--cacert", metavar="FILE", help="trust the CAs in this PEM file")
    connect_parser.add_argument(
        "--insecure", action="store_true", help="do not verify the server's certificate"
    )
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
    connect_parser.add_argument(
        "--binary", action="store_true", help="send lines as binary messages instead of text"
    )
    return parser


def _positive_float(value: str) -> float:
    number = float(value)
    if number <= 0:
        msg = f"must be positive: {value}"
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
    print(f"wslab: {message}", file=env.stderr)
    return status


async def run_connect(args: argparse.Namespace, env: Environment) -> ExitStatus:
    """``wslab connect``: pipe standard input to the connection and messages to stdout."""
    ws = await _open(args)
    if env.interactive:
        print(f"connected to {args.url}; Ctrl-D closes", file=env.stderr)
    printer = asyncio.create_task(_print_messages(ws, env.stdout))
    sender = asyncio.create_task(_send_lines(ws, _read_lines(env.stdin), binary=args.binary))
    await asyncio.wait((printer, sender), return_when=asyncio.FIRST_COMPLETED)
    if sender.done():
        sender.result()
        if args.wait > 0:
            await asyncio.wait((printer,), timeout=args.wait)
        closed = await ws.close()
    else:
        sender.cancel()
        closed = await ws.wait_closed()
    await printer
    if closed.error is not None:
        raise CommandError(ExitStatus.ERROR, f"connection failed: {closed.error}")
    return ExitStatus.SUCCESS


async def _open(args: argparse.Namespace) -> Connection:
    proxy: ProxySetting = None if args.no_proxy else (args.proxy or True)
    context = make_ssl_context(cafile=args.cacert, insecure=args.insecure)
    try:
        return await connect(
            args.url,
            origin=args.origin,
            subprotocol=args.subprotocol,
            proxy=proxy,
            ssl=context,
            limits=Limits(handshake_timeout=args.timeout),
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
        where = f"proxy {proxy}" if isinstance(proxy, str) else args.url
        raise CommandError(ExitStatus.CONNECT_FAILED, f"cannot connect to {where}: {exc}") from None


async def _read_lines(stream: TextIO) -> AsyncIterator[str]:
    """Yield lines of ``stream`` without their line ending.

    A daemon thread reads, so reading works on terminals, pipes and files alike and never
    keeps the program alive; the queue bounds how far it reads ahead.
    """
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue(maxsize=64)

    def read() -> None:
        try:
            for line in stream:
                asyncio.run_coroutine_threadsafe(lines.put(line.rstrip("\r\n")), loop).result()
            loop.call_soon_threadsafe(lines.put_nowait, None)
        except (RuntimeError, concurrent.futures.CancelledError):
            pass  # The event loop is gone: the program is ending.

    threading.Thread(target=read, name="wslab-stdin", daemon=True).start()
    while (line := await lines.get()) is not None:
        yield line


async def _send_lines(ws: Connection, lines: AsyncIterator[str], *, binary: bool) -> None:
    with contextlib.suppress(ConnectionClosed):  # run_connect reports how it ended.
        async for line in lines:
            await ws.send(line.encode() if binary else line)


async def _print_messages(ws: Connection, stdout: TextIO) -> None:
    with contextlib.suppress(ConnectionClosed):  # run_connect reports how it ended.
        async for message in ws:
            stdout.write(format_message(message) + "\n")
            stdout.flush()


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def format_message(message: str | bytes) -> str:
    """Render a message as one line: text with control characters escaped, binary as hex."""
    if isinstance(message, bytes):
        return f"[binary {len(message)} bytes] {message.hex()}"
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], message)
