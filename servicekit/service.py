"""A service on the bus: reads envelopes from its channel and runs its handlers.

A service's logic is a :class:`Handlers` subclass; :class:`Service` does the rest:

- it reads ``wslab:svc:<name>`` through ``bus.Subscriber``, which reconnects by itself;
- it decodes each envelope, dropping malformed ones with a warning;
- with other replicas of the service, it handles only the envelopes of its partitions and
  keeps the others' for a takeover (:mod:`servicekit.replicas`), so that each envelope is
  handled once however many replicas run;
- it calls the handler for the envelope's kind, one envelope at a time, in order. A
  :class:`~servicekit.messages.ClientError` becomes an ``error`` message to the client; any
  other exception is logged and, for a message, answered with ``bad_request``; for an open,
  the connection is closed, for its client to connect again. Neither stops the service;
- it runs :meth:`Handlers.background` alongside, and touches the heartbeat file while
  connected to the bus;
- :meth:`Service.stop` lets the current envelope finish, then stops everything and closes
  Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from pathlib import Path
from typing import assert_never

from redis.asyncio import Redis

import bus

from .context import Connection, Context, Outbox
from .heartbeat import beat
from .messages import BAD_REQUEST, ClientError, error
from .replicas import Partitions
from .settings import ServiceSettings

__all__ = ["Handlers", "Service"]

logger = logging.getLogger("wslab.servicekit")

_NOT_HANDLED = "the service could not handle this"
_NOT_OPENED = "the service could not open this connection; connect again"


class Handlers:
    """A service's logic. Subclass it and override the methods the service needs.

    Handlers run one at a time, in the order envelopes arrive. See :class:`Context` for
    what they can do.
    """

    async def on_open(self, ctx: Context) -> None:
        """A client connected. Does nothing by default."""

    async def on_message(self, ctx: Context, text: str) -> None:
        """A client sent a text message. Answers ``bad_request`` by default.

        Binary messages never reach this method: the service answers them with
        ``bad_request``.

        Raises:
            ClientError: to answer the client with this error.
        """
        raise ClientError("this service accepts no messages")

    async def on_close(self, ctx: Context) -> None:
        """A client went away; nothing can be sent to it any more. Does nothing by default."""

    async def background(self, outbox: Outbox) -> None:
        """Work that runs as long as the service, for example a feed. Nothing by default.

        It starts when the service starts and is cancelled when it stops. If it raises,
        the service stops and ``run()`` raises the same exception.
        """


class Service:
    """Runs :class:`Handlers` on the envelopes of one service's channel.

    Args:
        name: the service's name, ``chat`` for ``wslab:svc:chat``.
        handlers: the service's logic.
        settings: the Redis URL, the heartbeat file and its interval.

    Attributes:
        redis: the Redis client, closed when ``run()`` returns.
        outbox: what handlers publish with; also passed to :meth:`Handlers.background`.
        subscriber: the reader of the service's channel; ``subscriber.connected`` is set
            while it is connected to Redis.
        partitions: this replica's share of the connections.
    """

    def __init__(
        self, name: str, handlers: Handlers, settings: ServiceSettings | None = None
    ) -> None:
        self.name = name
        self.handlers = handlers
        self.settings = ServiceSettings() if settings is None else settings
        self.channel = bus.service_channel(name)
        self.logger = logging.getLogger(f"wslab.{name}")
        self.redis: Redis = Redis.from_url(self.settings.redis_url)
        self.outbox = Outbox(self.redis, self.logger)
        self.subscriber = bus.Subscriber(self.redis, self._receive)
        self.partitions = Partitions(
            self.redis,
            name,
            count=self.settings.partitions,
            lease=self.settings.lease,
            window=self.settings.standby_window,
            limit=self.settings.standby_limit,
        )
        self._stopping = asyncio.Event()
        # Held while an envelope is handled, so that stopping waits for it.
        self._busy = asyncio.Lock()

    def stop(self) -> None:
        """Make :meth:`run` return once the envelope being handled, if any, is done."""
        self._stopping.set()

    async def run(self) -> None:
        """Read and handle envelopes until :meth:`stop` is called.

        Raises:
            Exception: whatever ended :meth:`Handlers.background` or the reader early.
        """
        await self.subscriber.subscribe(self.channel)
        tasks = {
            asyncio.create_task(self.subscriber.run(), name=f"{self.name} reader"),
            asyncio.create_task(self.handlers.background(self.outbox), name=f"{self.name} bg"),
            asyncio.create_task(self._heartbeat(), name=f"{self.name} heartbeat"),
            asyncio.create_task(self._balance(), name=f"{self.name} partitions"),
        }
        stopping = asyncio.create_task(self._stopping.wait())
        self.logger.info("= %s service started, reading %s", self.name, self.channel)
        failure: BaseException | None = None
        try:
            pending = {*tasks, stopping}
            while failure is None and not stopping.done():
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                # A background that returns is fine; a task that raises stops the service.
                for task in done - {stopping}:
                    failure = failure or task.exception()
            if failure is not None:
                self.logger.error("! %s service failed", self.name, exc_info=failure)
        finally:
            async with self._busy:  # The envelope being handled, if any, is finished.
                await bus.cancel_and_wait({*tasks, stopping})
                with contextlib.suppress(Exception):  # Else the leases expire by themselves.
                    await self.partitions.release()
            with contextlib.suppress(OSError):  # Stale soon anyway; beat() logged why.
                Path(self.settings.health_file).unlink(missing_ok=True)
            await self.outbox.aclose()
            await self.redis.aclose()
            self.logger.info("= %s service stopped", self.name)
        if failure is not None:
            raise failure

    async def handle(self, envelope: bus.Envelope) -> None:
        """Run an envelope's handler; only cancellation escapes."""
        ctx = Context(Connection.from_envelope(envelope), self.outbox, envelope)
        if self.logger.isEnabledFor(logging.DEBUG):
            where = f"{envelope.path}?{envelope.query}" if envelope.kind == "open" else ""
            what = f"{envelope.payload!r:.80}" if envelope.kind == "message" else where
            self.logger.debug("< %s %s %s", envelope.kind, envelope.conn, what)
        try:
            match envelope.kind:
                case "open":
                    await self.handlers.on_open(ctx)
                case "message" if envelope.binary:
                    raise ClientError("binary messages are not supported")
                case "message":
                    await self.handlers.on_message(ctx, envelope.payload or "")
                case "close":
                    await self.handlers.on_close(ctx)
                case _:
                    assert_never(envelope.kind)
        except ClientError as exc:
            self.logger.debug("! %s: %s %s", envelope.conn, exc.code, exc.message)
            if envelope.kind != "close":
                await self._tell(ctx, ctx.reply(error(exc.code, exc.message)))
        except Exception:
            self.logger.exception("! %s handler failed for %s", envelope.kind, envelope.conn)
            # No details: they may reveal the service's internals.
            if envelope.kind == "message":
                await self._tell(ctx, ctx.reply(error(BAD_REQUEST, _NOT_HANDLED)))
            elif envelope.kind == "open":
                # Unopened, the connection would wait forever for what on_open sends (a
                # chat's welcome): closed, its client connects again.
                await self._tell(ctx, ctx.close(_NOT_OPENED))

    async def _receive(self, channel: str, data: bytes) -> None:
        if self._stopping.is_set():
            return  # Too late: run() is stopping.
        try:
            envelope = bus.Envelope.decode(data)
            if envelope.kind == "message" and envelope.payload is None:
                raise bus.BusError("message envelope without payload")
        except bus.BusError as exc:
            self.logger.warning("! dropped a malformed envelope (%s): %.200r", exc, data)
            return
        if self.partitions.of(envelope.conn) not in self.partitions.owned:
            self.partitions.keep(envelope)
            return
        async with self._busy:
            await self._handle_once(envelope)

    async def _handle_once(self, envelope: bus.Envelope) -> None:
        """Handle an envelope of an owned partition, then record it as handled."""
        await self.handle(envelope)
        try:
            await self.partitions.done(envelope)
        except Exception as exc:  # Redis is down: only a takeover now would repeat it.
            self.logger.warning(
                "! cannot record %s's envelope %d: %s", envelope.conn, envelope.seq, exc
            )

    async def _balance(self) -> None:
        """Share the partitions with the other replicas, every ``partitions.period``."""
        heard = 0  # The subscriber's connection the partitions were taken with.
        since = 0.0  # When that connection's subscription was confirmed.
        while True:
            if self.subscriber.connections != heard or not self.subscriber.connected.is_set():
                # Away from the bus, even briefly: envelopes were missed, so start over.
                self.partitions.deaf()
                await self.subscriber.connected.wait()
                heard, since = self.subscriber.connections, self.subscriber.connected_since
            try:
                await self.partitions.balance(self._busy, self._handle_once, since=since)
            except Exception as exc:  # Redis is down: the leases wait, or expire.
                self.logger.warning("! cannot balance partitions: %s", exc)
            await asyncio.sleep(self.partitions.period)

    async def _tell(self, ctx: Context, telling: Awaitable[None]) -> None:
        """Send the client an answer or a close, logging why if it cannot be sent."""
        try:
            await telling
        except Exception as exc:  # Redis is down: the client will not know, nothing to do.
            self.logger.warning("! cannot answer %s: %s", ctx.conn.id, exc)

    async def _heartbeat(self) -> None:
        path = Path(self.settings.health_file)
        await beat(path, self.subscriber.connected, self.settings.heartbeat_interval)
