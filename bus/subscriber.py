"""A Redis pub/sub reader that survives Redis going away.

redis-py re-subscribes by itself after a short blip, but gives up after its retry budget
and forgets a subscription that failed. This reader keeps the set of channels it should be
on, and whenever the connection fails it starts a fresh one and subscribes to all of them
again, backing off while Redis is down. Messages published while it is disconnected are
lost: pub/sub is at-most-once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as redis

from .tasks import CONNECTION_ERRORS as _ERRORS
from .tasks import reconnecting

__all__ = ["Subscriber"]

logger = logging.getLogger("wslab.bus")

Handler = Callable[[str, bytes], Awaitable[None]]
"""Called with the channel and the data of each message, one at a time."""


class Subscriber:
    """Reads channels with ``run()`` until cancelled; ``subscribe`` works at any time.

    Args:
        client: the Redis client to open pub/sub connections from.
        handler: called for each message, in order; its exceptions are logged.
        poll_timeout: how long one read waits, so that health checks and pending
            subscriptions are handled at least this often.
        max_backoff: the longest wait between two reconnection attempts, in seconds.
    """

    def __init__(
        self,
        client: redis.Redis,
        handler: Handler,
        *,
        poll_timeout: float = 1.0,
        max_backoff: float = 2.0,
    ) -> None:
        self.client = client
        self.handler = handler
        self.poll_timeout = poll_timeout
        self.max_backoff = max_backoff
        #: True while subscribed and reading; False while reconnecting.
        self.connected = asyncio.Event()
        #: How many times it connected: a new count means that messages published while
        #: it was away were missed, however short the gap.
        self.connections = 0
        #: The Unix time of the last connection's confirmed subscriptions: from then on,
        #: every message published to its channels reaches the handler.
        self.connected_since = 0.0
        self._channels: set[str] = set()
        self._pubsub: redis.client.PubSub | None = None
        # Set when a subscription change may not have reached Redis.
        self._resync = False

    async def subscribe(self, *channels: str) -> None:
        """Add channels; they are subscribed now, or on reconnection if Redis is away."""
        new = set(channels) - self._channels
        self._channels |= new
        if new and self._pubsub is not None:
            try:
                await self._pubsub.subscribe(*new)
            except _ERRORS:
                self._resync = True

    async def unsubscribe(self, *channels: str) -> None:
        """Remove channels."""
        gone = set(channels) & self._channels
        self._channels -= gone
        if gone and self._pubsub is not None:
            try:
                await self._pubsub.unsubscribe(*gone)
            except _ERRORS:
                self._resync = True

    async def run(self) -> None:
        """Read and dispatch messages until cancelled, reconnecting as needed."""
        await reconnecting(
            self._read,
            self.connected,
            lost="redis pub/sub",
            max_backoff=self.max_backoff,
            cleanup=self._close,
        )

    async def _close(self) -> None:
        if self._pubsub is not None:
            await self._pubsub.aclose()
            self._pubsub = None

    async def _read(self) -> None:
        self._pubsub = pubsub = self.client.pubsub()
        await self.client.ping()  # Redis answers.
        unconfirmed = set(self._channels)
        if unconfirmed:
            await pubsub.subscribe(*unconfirmed)
        else:
            self._connect()
        self._resync = False
        while True:
            if self._resync:
                self._resync = False
                await pubsub.subscribe(*self._channels)
            message = await pubsub.get_message(timeout=self.poll_timeout)
            if message is None:
                continue
            channel = message["channel"].decode()
            if message["type"] == "subscribe":
                # Connected once Redis confirmed every subscription: from then on, nothing
                # published to those channels is missed.
                unconfirmed.discard(channel)
                if not unconfirmed and not self.connected.is_set():
                    self._connect()
            elif message["type"] == "message":
                try:
                    await self.handler(channel, message["data"])
                except Exception:
                    logger.exception("! handler failed on a message from %s", channel)

    def _connect(self) -> None:
        self.connections += 1
        self.connected_since = time.time()
        self.connected.set()
        logger.info("= redis pub/sub connected, %d channels", len(self._channels))
