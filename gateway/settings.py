"""The gateway's settings, read from environment variables."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

__all__ = ["ENVIRONMENT", "Settings"]

#: Every variable the gateway reads, with its default and meaning (shown by --help).
ENVIRONMENT = {
    "WSLAB_HOST": ("0.0.0.0", "address to listen on"),
    "WSLAB_PORT": ("4502", "port for HTTP and the draft protocol (4502: the 2010 demo's)"),
    "REDIS_URL": ("redis://localhost:6379/0", "the Redis server of the bus"),
    "WSLAB_GATEWAY_ID": ("gw-<random>", "this gateway's id on the bus"),
    "WSLAB_ROUTES": ("/chat=chat,/stocks=stocks", "path=service pairs served"),
    "WSLAB_ORIGINS": ("", "comma-separated Origin values accepted; empty accepts any"),
    "WSLAB_MAX_CONNECTIONS": ("10000", "draft connections beyond this get 503"),
    "WSLAB_MAX_MESSAGE_SIZE": ("1048576", "largest message accepted from a client, bytes"),
    "WSLAB_READY_TIMEOUT": ("1.0", "seconds /readyz waits for its canary through Redis"),
}


def _get(name: str) -> str:
    return os.environ.get(name, ENVIRONMENT[name][0])


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the gateway can be told; :meth:`from_env` reads it."""

    host: str = "0.0.0.0"
    port: int = 4502
    redis_url: str = "redis://localhost:6379/0"
    gateway_id: str = field(default_factory=lambda: f"gw-{secrets.token_hex(4)}")
    routes: dict[str, str] = field(default_factory=lambda: {"/chat": "chat", "/stocks": "stocks"})
    origins: frozenset[str] | None = None
    max_connections: int = 10_000
    max_message_size: int = 2**20
    ready_timeout: float = 1.0

    @classmethod
    def from_env(cls) -> Settings:
        """Read the variables of :data:`ENVIRONMENT`.

        Raises:
            ValueError: a variable has an invalid value.
        """
        gateway_id = os.environ.get("WSLAB_GATEWAY_ID")
        origins = [origin.strip() for origin in _get("WSLAB_ORIGINS").split(",")]
        origins = [origin for origin in origins if origin]
        routes = {}
        for pair in _get("WSLAB_ROUTES").split(","):
            path, sep, service = (part.strip() for part in pair.partition("="))
            if not sep or not path.startswith("/") or not service:
                msg = f"WSLAB_ROUTES: {pair!r} is not PATH=SERVICE"
                raise ValueError(msg)
            routes[path] = service
        return cls(
            host=_get("WSLAB_HOST"),
            port=int(_get("WSLAB_PORT")),
            redis_url=_get("REDIS_URL"),
            **({"gateway_id": gateway_id} if gateway_id else {}),
            routes=routes,
            origins=frozenset(origins) if origins else None,
            max_connections=int(_get("WSLAB_MAX_CONNECTIONS")),
            max_message_size=int(_get("WSLAB_MAX_MESSAGE_SIZE")),
            ready_timeout=float(_get("WSLAB_READY_TIMEOUT")),
        )
