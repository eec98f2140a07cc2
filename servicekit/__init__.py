"""What the wslab services share: the bus loop, the handler API, settings and health.

A service is a :class:`Handlers` subclass run by :func:`main`::

    class Echo(servicekit.Handlers):
        async def on_message(self, ctx: servicekit.Context, text: str) -> None:
            await ctx.reply(text)

    sys.exit(servicekit.main("echo", lambda settings: Echo(), settings_cls=ServiceSettings))

See docs/BUS.md ("Services") for the whole API. :mod:`servicekit.health` is the container
healthcheck; the images run its file by path, so that it imports nothing of this package.
"""

from __future__ import annotations

from bus.settings import load_settings, setting

from .context import Connection, Context, Outbox
from .limits import RATE_LIMITED, RateLimits, TokenBucket
from .messages import BAD_REQUEST, ClientError, Message, encode, error
from .runner import main, serve
from .service import Handlers, Service
from .settings import ServiceSettings

__all__ = [
    "BAD_REQUEST",
    "RATE_LIMITED",
    "ClientError",
    "Connection",
    "Context",
    "Handlers",
    "Message",
    "Outbox",
    "RateLimits",
    "Service",
    "ServiceSettings",
    "TokenBucket",
    "encode",
    "error",
    "load_settings",
    "main",
    "serve",
    "setting",
]
