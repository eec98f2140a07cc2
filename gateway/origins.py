"""Which web pages may open connections: the ``Origin`` rules, as data and pure functions.

A browser sends the ``Origin`` of the page that opens a WebSocket, and sends the user's
cookies and network position with it, whatever site the page is from. So the gateway
accepts a browser's request only from its own origin (the page it serves, whatever name it
is reached by: the ``Origin`` names the ``Host`` the request was sent to) and from the
origins it is told to trust. A request without ``Origin`` comes from a program, not a
browser, and is accepted: the header protects browsers' users, and a program may send any.
``Origin: null`` (a sandboxed frame, a ``file:`` page) is no site at all and is refused
unless listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["ANY", "DEVELOPMENT", "OriginPolicy"]

#: The pattern that accepts any origin.
ANY = "*"
#: What the gateway trusts by default besides its own origin: pages served from this
#: machine, on any port (a development server beside the gateway).
DEVELOPMENT = tuple(
    f"{scheme}://{host}:*"
    for host in ("localhost", "127.0.0.1", "[::1]")
    for scheme in ("http", "https")
)

_DEFAULT_PORTS = {"http": 80, "https": 443}

#: An origin as compared: scheme, lowercased host, port (None in a pattern: any port).
_Origin = tuple[str, str, int | None]


def _parse(origin: str, *, pattern: bool = False) -> _Origin | None:
    """``origin`` as compared, or None if it is no http(s) origin (nor, with ``pattern``,
    one whose port is ``*``)."""
    any_port = pattern and origin.endswith(":*")
    if any_port:
        origin = origin[:-2]
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        return None
    if any_port:
        return parts.scheme, parts.hostname, None
    return parts.scheme, parts.hostname, port or _DEFAULT_PORTS[parts.scheme]


def _host(host: str, scheme: str) -> tuple[str, int] | None:
    """A ``Host`` header's name and port, the port defaulting to ``scheme``'s."""
    try:
        parts = urlsplit(f"//{host}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname, port or _DEFAULT_PORTS[scheme]


@dataclass(frozen=True)
class OriginPolicy:
    """The origins accepted besides the gateway's own.

    Args:
        patterns: origins such as ``https://chat.example.com``, a port of ``*`` for any
            port (``http://localhost:*``), ``null`` for ``Origin: null``, or ``*`` for any
            origin at all.
    """

    patterns: tuple[str, ...] = DEVELOPMENT

    def __post_init__(self) -> None:
        for pattern in self.patterns:
            if pattern not in (ANY, "null") and _parse(pattern, pattern=True) is None:
                msg = f"{pattern!r} is not an origin (scheme://host[:port], port may be *)"
                raise ValueError(msg)

    @classmethod
    def of(cls, patterns: Iterable[str]) -> OriginPolicy:
        """The policy of ``patterns``, their surrounding spaces and empty ones ignored."""
        return cls(tuple(pattern.strip() for pattern in patterns if pattern.strip()))

    def refusal(self, origin: str | None, host: str) -> str | None:
        """Why a request from ``origin`` (None: no ``Origin`` header) sent to ``host`` (its
        ``Host`` header) is refused; None if it is accepted."""
        if origin is None or ANY in self.patterns or origin in self.patterns:
            return None
        parsed = _parse(origin)
        if parsed is not None:
            scheme, name, port = parsed
            if _host(host, scheme) == (name, port):
                return None  # The gateway's own origin.
            for pattern in self.patterns:
                allowed = _parse(pattern, pattern=True)
                if allowed is not None and allowed in ((scheme, name, None), parsed):
                    return None
        return f"origin {origin} is not allowed"
