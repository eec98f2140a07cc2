"""A service on the bus: reads envelopes from its channel and runs its handlers.

A service's logic is a :class:`Handlers` subclass; :class:`Service` does the rest:

- it reads the stream ``wslab:svc:<name>:in`` through ``bus.StreamReader``, which
  reconnects by itself and reads on from where it was;
- it decodes each envelope, dropping malformed ones with a warning;
- with other replicas of the service, it handles only the envelopes of its partitions
  (:mod:`servicekit.replicas`), so that each envelope is handled once however many
  replicas run, and records how far it handled them, for a takeover;
- it calls the handler for the envelope's kind: a connection's envelopes one at a time, in
  order; those of different connections in one batch read from the stream at the same
  time, so that what their handlers send Redis goes in one pipeline. A
  :class:`~servicekit.messages.ClientError` becomes an ``error`` message to the client; any
  other exception is logged and, for a message, answered with ``bad_request``; for an open,
  the connection is closed, for its client to connect again. Neither stops the service;
- it runs :meth:`Handlers.background` alongside, and touches the heartbeat file while
  connected to the bus;
- :meth:`Service.stop` lets the batch being handled finish, then stops everything and closes
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

    A connection's envelopes are handled one at a time, in the order they arrive; handlers
    of different connections may run at the same time (each batch read from the stream is
    handled at once, connection by connection). See :class:`Context` for what they can do.
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
        inbox: the reader of the service's stream; ``inbox.connected`` is set while it is
            connected to Redis.
        partitions: this replica's share of the connections.
    """

    def __init__(
        self, name: str, handlers: Handlers, settings: ServiceSettings | None = None
    ) -> None:
        self.name = name
        self.handlers = handlers
        self.settings = ServiceSettings() if settings is None else settings
        self.logger = logging.getLogger(f"wslab.{name}")
        # The handlers of a batch run at once: past the pool's size, they wait for a
        # connection instead of failing.
        self.redis: Redis = bus.redis_client(
            self.settings.redis_url,
            name=f"wslab-{name}",
            max_connections=self.settings.redis_connections,
        )
        self.outbox = Outbox(self.redis, name)
        self.inbox = bus.StreamReader(
            self.redis, bus.service_stream(name), self._receive, count=self.settings.batch
        )
        self.partitions = Partitions(
            self.redis,
            name,
            count=self.settings.partitions,
            lease=self.settings.lease,
            publisher=self.outbox.publisher,
        )
        self._stopping = asyncio.Event()
        # Held while an envelope is handled, so that stopping waits for it.
        self._busy = asyncio.Lock()
        # The id of the last stream entry handled or skipped: a takeover catches up to it.
        self._read_through: bus.StreamId = (0, 0)
        self._renewed = asyncio.Event()
        # The seq of the last envelope handled, by connection, for the owned partitions.
        self._seqs: dict[str, int] = {}

    def stop(self) -> None:
        """Make :meth:`run` return once the batch being handled, if any, is done."""
        self._stopping.set()

    async def run(self) -> None:
        """Read and handle envelopes until :meth:`stop` is called.

        Raises:
            Exception: whatever ended :meth:`Handlers.background` or the reader early.
        """
        tasks = {
            asyncio.create_task(self.inbox.run(), name=f"{self.name} reader"),
            asyncio.create_task(self.handlers.background(self.outbox), name=f"{self.name} bg"),
            asyncio.create_task(self._heartbeat(), name=f"{self.name} heartbeat"),
            asyncio.create_task(self._leases(), name=f"{self.name} leases"),
            asyncio.create_task(self._balance(), name=f"{self.name} partitions"),
        }
        stopping = asyncio.create_task(self._stopping.wait())
        self.logger.info("= %s service started, reading %s", self.name, self.inbox.stream)
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
            async with self._busy:  # The batch being handled, if any, is finished.
                await bus.cancel_and_wait({*tasks, stopping})
                self.partitions.handled(self._read_through)
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

    async def _receive(self, batch: list[bus.Entry]) -> None:
        async with self._busy:
            if self._stopping.is_set():
                return  # Too late: run() is stopping; the next owner handles the rest.
            mine: dict[str, list[dict[bytes, bytes]]] = {}
            for entry_id, fields in batch:
                conn = _conn(fields)
                if self.partitions.handles(self.partitions.of(conn), entry_id):
                    mine.setdefault(conn, []).append(fields)
            await asyncio.gather(*(self._handle_in_order(entries) for entries in mine.values()))
            self._read_through = batch[-1][0]

    async def _handle_in_order(self, entries: list[dict[bytes, bytes]]) -> None:
        """Handle one connection's entries, one after the other."""
        for fields in entries:
            await self._handle_entry(fields)

    async def _handle_entry(self, fields: dict[bytes, bytes]) -> None:
        data = fields.get(b"envelope", b"")
        try:
            envelope = bus.Envelope.decode(data)
            if envelope.kind == "message" and envelope.payload is None:
                raise bus.BusError("message envelope without payload")
        except bus.BusError as exc:
            self.logger.warning("! dropped a malformed envelope (%s): %.200r", exc, data)
            return
        if envelope.seq <= self._seqs.get(envelope.conn, -1):
            return  # Appended twice: the gateway sent it again, its first answer lost.
        self._seqs[envelope.conn] = envelope.seq
        await self.handle(envelope)
        if envelope.kind == "close":
            del self._seqs[envelope.conn]

    async def _catch_up(self, partition: int, through: bus.StreamId) -> bus.StreamId:
        """Handle the entries of a partition taken over, from after ``through`` (its last
        owner's record) to where this replica has read; return the later of the two."""
        stop = self._read_through
        start = through
        while start < stop:
            entries = await bus.entries_after(
                self.redis, self.inbox.stream, start, stop, count=self.settings.batch
            )
            if not entries:
                break
            for _, fields in entries:
                if self.partitions.of(_conn(fields)) == partition:
                    await self._handle_entry(fields)
            start = entries[-1][0]
        return max(through, stop)

    async def _leases(self) -> None:
        """Renew this replica's registration and leases, every ``partitions.period``."""
        while True:
            try:
                await self.partitions.renew()
                self._renewed.set()
            except Exception as exc:  # Redis is down: the leases lapse, and handling stops.
                self.logger.warning("! cannot renew partitions: %s", exc)
            await asyncio.sleep(self.partitions.period)

    async def _balance(self) -> None:
        """Share the partitions with the other replicas, every ``partitions.period``."""
        await self._renewed.wait()
        await self.inbox.connected.wait()
        self._read_through = max(self._read_through, self.inbox.position or (0, 0))
        while True:
            try:
                async with self._busy:  # Between two envelopes.
                    # Recorded once a period, not per envelope: one command less per line;
                    # after a crash, the next owner handles up to a period again.
                    self.partitions.handled(self._read_through)
                    owned = set(self.partitions.owned)
                    await self.partitions.balance(self._catch_up)
                    if not owned <= self.partitions.owned.keys():
                        self._forget_released()
            except Exception as exc:  # Redis is down: the leases wait, or expire.
                self.logger.warning("! cannot balance partitions: %s", exc)
            await asyncio.sleep(self.partitions.period)

    def _forget_released(self) -> None:
        """Forget the connections of the partitions this replica no longer owns."""
        owned, of = self.partitions.owned, self.partitions.of
        self._seqs = {conn: seq for conn, seq in self._seqs.items() if of(conn) in owned}

    async def _tell(self, ctx: Context, telling: Awaitable[None]) -> None:
        """Send the client an answer or a close, logging why if it cannot be sent."""
        try:
            await telling
        except Exception as exc:  # Redis is down: the client will not know, nothing to do.
            self.logger.warning("! cannot answer %s: %s", ctx.conn.id, exc)

    async def _heartbeat(self) -> None:
        path = Path(self.settings.health_file)
        await beat(path, self.inbox.connected, self.settings.heartbeat_interval)


def _conn(fields: dict[bytes, bytes]) -> str:
    """The connection of a stream entry, read without decoding its envelope."""
    return fields.get(b"conn", b"").decode(errors="replace")
