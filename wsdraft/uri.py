"""``ws://`` and ``wss://`` URLs, with the draft's rule on resource names."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from .exceptions import InvalidURI
from .handshake import invalid_resource

__all__ = ["WebSocketURI", "parse_uri"]

_DEFAULT_PORTS = {False: 80, True: 443}


@dataclass(frozen=True, kw_only=True)
class WebSocketURI:
    """A parsed WebSocket URL.

    Attributes:
        secure: True for ``wss://``.
        host: the host name or address, without brackets.
        port: the TCP port, defaulted from the scheme.
        resource: the path and query string, sent as the request target.
    """

    secure: bool
    host: str
    port: int
    resource: str

    @property
    def authority(self) -> str:
        """The ``Host`` header: the host, and the port when it is not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.secure] else f"{host}:{self.port}"

    @property
    def location(self) -> str:
        """The URL as the server must echo it in ``Sec-WebSocket-Location``."""
        return f"{'wss' if self.secure else 'ws'}://{self.authority}{self.resource}"

    @property
    def origin(self) -> str:
        """The origin a client sends by default: the matching http(s) URL's origin."""
        return f"{'https' if self.secure else 'http'}://{self.authority}"


def parse_uri(uri: str) -> WebSocketURI:
    """Parse a ``ws://`` or ``wss://`` URL.

    Raises:
        InvalidURI: the URL is not a WebSocket URL, or its resource name breaks the draft's
            rule (no ':', spaces or control characters, even %-encoded).
    """
    if any(char <= " " for char in uri):
        # urlsplit would silently drop tabs and newlines; the draft forbids them.
        raise InvalidURI(uri, "it contains spaces or control characters")
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme not in ("ws", "wss"):
        raise InvalidURI(uri, "the scheme must be ws or wss")
    if not parts.hostname:
        raise InvalidURI(uri, "it has no host")
    if parts.fragment or uri.endswith("#"):
        raise InvalidURI(uri, "a WebSocket URL has no fragment")
    if parts.username is not None or parts.password is not None:
        raise InvalidURI(uri, "credentials in the URL are not supported")
    try:
        port = parts.port
    except ValueError:
        raise InvalidURI(uri, "its port is not a number from 0 to 65535") from None
    secure = parts.scheme == "wss"
    resource = urllib.parse.quote(parts.path or "/", safe="/%!$&'()*+,;=@~")
    if parts.query:
        resource += "?" + urllib.parse.quote(parts.query, safe="/%!$&'()*+,;=@~?")
    problem = invalid_resource(resource)
    if problem is not None:
        raise InvalidURI(uri, f"invalid resource name: {problem}")
    return WebSocketURI(
        secure=secure,
        host=parts.hostname,
        port=_DEFAULT_PORTS[secure] if port is None else port,
        resource=resource,
    )
