"""The gateway's settings, read from environment variables with :mod:`bus.settings`."""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass

from bus.settings import LOG_LEVELS, setting

from .addresses import AddressLimits, parse_networks
from .origins import DEVELOPMENT, OriginPolicy
from .tokens import AUTH_MODES, Authentication, TokenVerifier

__all__ = ["Settings"]


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the gateway can be told; ``load_settings(Settings)`` reads it.

    Each field is set by its environment variable (``python -m gateway --help`` lists
    them) or by the matching option; :attr:`route_table`, :attr:`origin_policy` and
    :attr:`proxies` are the parsed forms of ``routes``, ``origins`` and
    ``trusted_proxies``.

    Raises:
        ValueError: a setting is invalid; the message names its variable.
    """

    host: str = setting("WSLAB_HOST", "0.0.0.0", "address to listen on")
    port: int = setting("WSLAB_PORT", 4502, "port for HTTP and WebSocket (4502: the 2010 demo's)")
    tls_cert: str = setting(
        "WSLAB_TLS_CERT",
        "",
        "PEM file of the certificate chain served over TLS (https, wss); empty: no TLS",
    )
    tls_key: str = setting(
        "WSLAB_TLS_KEY", "", "PEM file of the private key of WSLAB_TLS_CERT; empty: in it"
    )
    redis_url: str = setting("REDIS_URL", "redis://localhost:6379/0", "the Redis server of the bus")
    gateway_id: str = setting(
        "WSLAB_GATEWAY_ID", "", "this gateway's id on the bus; empty: gw-<8 random hex digits>"
    )
    auth: str = setting(
        "WSLAB_AUTH",
        "anonymous",
        "anonymous: anyone may connect (a token presented is checked); token: only clients"
        " with a good token",
    )
    token_secret: str = setting(
        "WSLAB_TOKEN_SECRET", "", "the secret tokens are signed with (HS256); empty: none"
    )
    token_audience: str = setting(
        "WSLAB_TOKEN_AUDIENCE", "wslab", "the audience (aud) a token must name"
    )
    routes: str = setting(
        "WSLAB_ROUTES",
        "/chat=chat:16384,/stocks=stocks:4096",
        "PATH=SERVICE[:BYTES] pairs served; BYTES: the largest message the service accepts"
        " (default: WSLAB_MAX_MESSAGE_SIZE)",
    )
    echo_path: str = setting(
        "WSLAB_ECHO_PATH",
        "/echo",
        "path where the gateway itself sends each message back, text as text and binary as"
        " binary, with no service; empty: none",
    )
    origins: str = setting(
        "WSLAB_ORIGINS",
        ",".join(DEVELOPMENT),
        "comma-separated origins whose pages may connect, besides the gateway's own: a port"
        " of * is any port, * is any origin, empty is the gateway's own only",
    )
    max_connections: int = setting(
        "WSLAB_MAX_CONNECTIONS",
        10_000,
        "open connections, HTTP and WebSocket, beyond which a new one gets 503",
    )
    max_connections_per_address: int = setting(
        "WSLAB_MAX_CONNECTIONS_PER_ADDRESS",
        1000,
        "WebSocket connections one client address may hold open; beyond: 429",
    )
    handshake_rate: float = setting(
        "WSLAB_HANDSHAKE_RATE",
        100.0,
        "WebSocket handshakes a second one client address may make on average; beyond: 429",
    )
    handshake_burst: int = setting(
        "WSLAB_HANDSHAKE_BURST", 1000, "WebSocket handshakes one client address may make at once"
    )
    trusted_proxies: str = setting(
        "WSLAB_TRUSTED_PROXIES",
        "",
        "comma-separated addresses or networks of proxies whose X-Forwarded-For names the"
        " client; * is any, empty is none",
    )
    max_header_size: int = setting(
        "WSLAB_MAX_HEADER_SIZE", 16 * 1024, "largest request head, bytes; beyond: 431"
    )
    request_timeout: float = setting(
        "WSLAB_REQUEST_TIMEOUT",
        10.0,
        "seconds for a whole request (head and body) or a WebSocket opening handshake to"
        " arrive; beyond: 408 or closed",
    )
    ping_interval: float = setting(
        "WSLAB_PING_INTERVAL", 20.0, "seconds a WebSocket client may be quiet before a ping"
    )
    ping_timeout: float = setting(
        "WSLAB_PING_TIMEOUT",
        20.0,
        "seconds a ping may go unanswered before the client is closed (1011)",
    )
    keepalive_timeout: int = setting(
        "WSLAB_KEEPALIVE_TIMEOUT", 5, "seconds an idle HTTP keep-alive connection is kept"
    )
    max_message_size: int = setting(
        "WSLAB_MAX_MESSAGE_SIZE", 2**20, "largest message accepted from a client, bytes"
    )
    slow_write_buffer: int = setting(
        "WSLAB_SLOW_WRITE_BUFFER",
        64 * 1024,
        "bytes waiting to be sent to a client beyond which it is slow: its conflated topics"
        " keep only their latest message",
    )
    max_write_buffer: int = setting(
        "WSLAB_MAX_WRITE_BUFFER",
        2**20,
        "bytes waiting to be sent to a client beyond which it is closed as too slow",
    )
    redis_connections: int = setting(
        "WSLAB_REDIS_CONNECTIONS", 50, "the most Redis connections; requests wait for one beyond"
    )
    max_backlog: int = setting(
        "WSLAB_MAX_BACKLOG",
        200_000,
        "entries a service's stream may hold before clients' messages get overloaded",
    )
    ready_timeout: float = setting(
        "WSLAB_READY_TIMEOUT", 1.0, "seconds /readyz waits for its canary through Redis"
    )
    max_quote_symbols: int = setting(
        "WSLAB_MAX_QUOTE_SYMBOLS", 100, "symbols one GET /api/quotes may ask for"
    )
    quotes_timeout: float = setting(
        "WSLAB_QUOTES_TIMEOUT", 1.0, "seconds GET /api/quotes waits for Redis before a 503"
    )
    log_level: str = setting("WSLAB_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR")

    def __post_init__(self) -> None:
        if not self.gateway_id:
            object.__setattr__(self, "gateway_id", f"gw-{secrets.token_hex(4)}")
        routes = _parse_routes(self.routes)
        _check_echo_path(self.echo_path, routes)
        try:
            OriginPolicy.of(self.origins.split(","))
        except ValueError as exc:
            raise ValueError(f"WSLAB_ORIGINS: {exc}") from None
        try:
            parse_networks(self.trusted_proxies)
        except ValueError as exc:
            raise ValueError(f"WSLAB_TRUSTED_PROXIES: {exc}") from None
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, int | float) and value <= 0:
                raise ValueError(f"{field.metadata['env']} must be positive, not {value}")
        if self.slow_write_buffer >= self.max_write_buffer:
            raise ValueError(
                f"WSLAB_SLOW_WRITE_BUFFER ({self.slow_write_buffer}) must be below"
                f" WSLAB_MAX_WRITE_BUFFER ({self.max_write_buffer})"
            )
        if self.tls_key and not self.tls_cert:
            raise ValueError("WSLAB_TLS_KEY is set without WSLAB_TLS_CERT")
        if self.auth not in AUTH_MODES:
            raise ValueError(f"WSLAB_AUTH must be one of {', '.join(AUTH_MODES)}")
        if self.auth == "token" and not self.token_secret:
            raise ValueError("WSLAB_AUTH=token needs WSLAB_TOKEN_SECRET (or its _FILE)")
        if self.log_level not in LOG_LEVELS:
            raise ValueError(f"WSLAB_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")

    @property
    def route_table(self) -> dict[str, str]:
        """The service of each path, from ``routes``: ``{"/chat": "chat", ...}``."""
        return {path: service for path, (service, _) in _parse_routes(self.routes).items()}

    @property
    def route_max_sizes(self) -> dict[str, int]:
        """The largest message of each path, from ``routes``, else ``max_message_size``."""
        return {
            path: min(size or self.max_message_size, self.max_message_size)
            for path, (_, size) in _parse_routes(self.routes).items()
        }

    @property
    def authentication(self) -> Authentication:
        """Who may connect, from ``auth`` and the token settings."""
        verifier = None
        if self.token_secret:
            verifier = TokenVerifier(self.token_secret, self.token_audience)
        return Authentication(verifier, required=self.auth == "token")

    @property
    def address_limits(self) -> AddressLimits:
        """What one client address may open, from the per-address settings."""
        return AddressLimits(
            max_connections=self.max_connections_per_address,
            handshake_rate=self.handshake_rate,
            handshake_burst=self.handshake_burst,
        )

    @property
    def proxies(self) -> list[str]:
        """The trusted proxies, from ``trusted_proxies``: uvicorn's ``forwarded_allow_ips``."""
        return parse_networks(self.trusted_proxies)

    @property
    def origin_policy(self) -> OriginPolicy:
        """The origins accepted, from ``origins``."""
        return OriginPolicy.of(self.origins.split(","))


def _parse_routes(routes: str) -> dict[str, tuple[str, int | None]]:
    """Parse ``/chat=chat:16384,/stocks=stocks``: each path's service and largest message
    (None: not given). Spaces around ``=``, ``:`` and ``,`` are allowed."""
    table = {}
    for pair in routes.split(","):
        path, sep, target = (part.strip() for part in pair.partition("="))
        service, colon, size = (part.strip() for part in target.partition(":"))
        if not sep or not path.startswith("/") or not service:
            raise ValueError(f"WSLAB_ROUTES: {pair!r} is not PATH=SERVICE[:BYTES]")
        if colon and not (size.isdigit() and int(size) > 0):
            raise ValueError(f"WSLAB_ROUTES: {pair!r}: BYTES must be a positive number")
        table[path] = (service, int(size) if colon else None)
    return table


# What a path may not hold: a query or fragment, spaces, and Starlette's {parameters}.
_NOT_IN_A_PATH = frozenset("?#{} \t")


def _check_echo_path(path: str, routes: dict[str, tuple[str, int | None]]) -> None:
    """Refuse an echo path (empty: none) that is no plain path or is a route's already."""
    if not path:
        return
    if not path.startswith("/") or _NOT_IN_A_PATH.intersection(path):
        raise ValueError(f"WSLAB_ECHO_PATH: {path!r} is not a path (/NAME)")
    if path in routes:
        raise ValueError(f"WSLAB_ECHO_PATH: {path} is a route of WSLAB_ROUTES already")
