"""The options of the commands that connect, declared once, and opening a connection with
them (:func:`open_connection`), its failures turned into :class:`CommandError` and an exit
status; also the checks of the URLs and the types of the numbers the commands take."""

from __future__ import annotations

import argparse
import os
import ssl
from dataclasses import dataclass
from http import HTTPStatus

from python_socks import ProxyError

from wsdraft import (
    HandshakeRejected,
    InvalidHello,
    InvalidResponse,
    InvalidURI,
    Limits,
    parse_uri,
)

from ..connection import Connection, connect
from ..network import ProxySetting, make_ssl_context
from .base import CommandError, ExitStatus

__all__ = [
    "ConnectionOptions",
    "HandshakeRefused",
    "add_connection_options",
    "checked_url",
    "non_negative_float",
    "open_connection",
    "positive_float",
    "positive_int",
]


@dataclass(frozen=True, kw_only=True)
class ConnectionOptions:
    """How a command opens its connections: the options :func:`add_connection_options`
    declares, by the same names."""

    open_timeout: float
    origin: str | None
    subprotocol: str | None
    proxy: str | None
    no_proxy: bool
    cacert: str | None
    insecure: bool
    token: str | None

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context of ``--cacert`` and ``--insecure``."""
        return make_ssl_context(cafile=self.cacert, insecure=self.insecure)


def add_connection_options(parser: argparse.ArgumentParser, *, timeout: str = "--timeout") -> None:
    """Declare the options of :class:`ConnectionOptions` on ``parser``; ``timeout`` is the
    name of the option that bounds opening a connection (``replay`` has a ``--timeout`` of
    its own)."""
    parser.add_argument(
        timeout,
        dest="open_timeout",
        type=positive_float,
        default=Limits().handshake_timeout,
        metavar="SECONDS",
        help="how long opening a connection may take (default: %(default)s)",
    )
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


class HandshakeRefused(CommandError):
    """The server answered the opening request with an HTTP error (``http_status``), so
    that a command that knows where it should have connected can say so."""

    def __init__(self, message: str, *, http_status: int) -> None:
        super().__init__(ExitStatus.HANDSHAKE_FAILED, message)
        self.http_status = http_status


def checked_url(url: str) -> str:
    """Return ``url`` if it is a ws:// or wss:// URL; else raise a usage error naming it as
    typed, before a command adds a service's path to it."""
    try:
        parse_uri(url)
    except InvalidURI as exc:
        raise CommandError(ExitStatus.USAGE, str(exc)) from None
    return url


async def open_connection(
    url: str,
    options: ConnectionOptions,
    *,
    max_queue: int = 16,
    context: ssl.SSLContext | None = None,
) -> Connection:
    """Open a connection to ``url`` with ``options``; raise a CommandError.

    ``context`` is ``options.ssl_context()``, for a caller opening many connections:
    making one loads the system's CAs, about 50 ms that block the event loop.
    """
    proxy: ProxySetting = None if options.no_proxy else (options.proxy or True)
    try:
        return await connect(
            url,
            origin=options.origin,
            subprotocol=options.subprotocol,
            proxy=proxy,
            ssl=context or options.ssl_context(),
            limits=Limits(handshake_timeout=options.open_timeout),
            max_queue=max_queue,
            headers=[("Authorization", f"Bearer {options.token}")] if options.token else (),
        )
    except InvalidURI as exc:
        raise CommandError(ExitStatus.USAGE, str(exc)) from None
    except HandshakeRejected as exc:
        message = _describe_rejection(url, exc)
        raise HandshakeRefused(message, http_status=exc.status) from None
    except (InvalidResponse, InvalidHello) as exc:
        raise CommandError(ExitStatus.HANDSHAKE_FAILED, f"invalid handshake: {exc}") from None
    except TimeoutError as exc:
        raise CommandError(ExitStatus.TIMEOUT, str(exc) or "timed out") from None
    except ssl.SSLError as exc:
        raise CommandError(ExitStatus.CONNECT_FAILED, f"TLS failed: {exc}") from None
    except (ProxyError, OSError) as exc:
        where = f"proxy {proxy}" if isinstance(proxy, str) else url
        raise CommandError(ExitStatus.CONNECT_FAILED, f"cannot connect to {where}: {exc}") from None


def _describe_rejection(url: str, exc: HandshakeRejected) -> str:
    """Say why the server at ``url`` did not open a connection.

    A success or a redirect is no refusal: ``url`` is not a WebSocket endpoint (a web page,
    a redirect to one), and the body of a page says nothing worth showing.
    """
    if exc.status >= HTTPStatus.BAD_REQUEST:
        return str(exc)
    try:
        answered = f"{exc.status} {HTTPStatus(exc.status).phrase}"
    except ValueError:
        answered = str(exc.status)
    return f"{url} is not a WebSocket endpoint: the server answered {answered}"


def positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        msg = f"must be positive: {value}"
        raise argparse.ArgumentTypeError(msg)
    return number


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        msg = f"must be 1 or more: {value}"
        raise argparse.ArgumentTypeError(msg)
    return number


def non_negative_float(value: str) -> float:
    number = float(value)
    if not 0 <= number < float("inf"):
        msg = f"must be 0 or more: {value}"
        raise argparse.ArgumentTypeError(msg)
    return number
