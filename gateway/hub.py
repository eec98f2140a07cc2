"""The gateway's side of the bus: client connections in, commands and topics out.

The hub knows connections, services and topics by name only; what a message means is the
services' business (docs/BUS.md). While it runs it keeps ``wslab:gw:<id>:alive`` set, with a
short expiry, so that services can forget the connections of a gateway that died.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import logging
import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

import redis.asyncio as redis
from redis.exceptions import RedisError

from bus import (
    APPEND,
    Appended,
    BusError,
    Canary,
    Close,
    Envelope,
    Overloaded,
    Publisher,
    Send,
    Subscribe,
    Subscriber,
    Unsubscribe,
    cancel_and_wait,
    command_channel,
    decode_command,
    decode_topic,
    encode_command,
    gateway_alive_key,
    gateway_channel,
    service_replicas,
    service_stream,
    topic_channel,
)

from . import metrics
from .outbox import Outbox, Outgoing
from .tokens import Identity

__all__ = ["ALIVE_TTL", "Hub", "Link"]

logger = logging.getLogger("wslab.gateway")

ALIVE_TTL = 10.0
"""Seconds the alive key lives unless refreshed; it is refreshed every third of that."""
BEHIND_AFTER = 100
"""Topic messages in one event-loop turn past which the gateway is behind the bus. The
stock feed's batch of 10 ms brings one quote at its default rate, a dozen at 1,000/s."""
MAX_RETRIED_CLOSES = 100_000
"""Close envelopes kept to publish again, at most: a route to a service that never runs
must not grow the gateway's memory without end."""


@dataclass(eq=False)
class Link:
    """A client connection as the hub sees it."""

    id: str
    service: str
    path: str
    query: str
    outbox: Outbox
    #: Who the client is, if a token said so.
    identity: Identity | None = None
    #: The topic channels this connection receives.
    channels: set[str] = field(default_factory=set)
    #: The ``seq`` of the connection's next envelope.
    next_seq: int = 0


class Hub:
    """Publishes client events to services and carries out the services' commands.

    Args:
        client: the Redis client.
        gateway_id: this gateway's id on the bus.
        services: the services whose commands it hears, each on its own channel
            (:func:`bus.command_channel`) and each only for its own connections.
        ready_timeout: how long :meth:`ready` waits for its canary.
        alive_ttl: the expiry of :func:`bus.gateway_alive_key`, in seconds; it is set every third.
        max_waiting: envelopes that may wait to be published; past it, a client's message
            is refused with ``overloaded``, and from half of it new connections are.
        max_backlog: entries a service's stream may hold, handled or not (it is trimmed as
            the service goes): past it, the service is far behind, and a client's message
            is refused with ``overloaded``.
        behind_after: topic messages read in one event-loop turn past which the gateway is
            behind the bus: from then on in that turn, the topics every subscriber takes
            conflated send only their latest message, at the end of the turn.
    """

    def __init__(
        self,
        client: redis.Redis,
        gateway_id: str,
        services: Collection[str],
        *,
        ready_timeout: float,
        alive_ttl: float = ALIVE_TTL,
        max_waiting: int = 100_000,
        max_backlog: int = 200_000,
        behind_after: int = BEHIND_AFTER,
    ) -> None:
        self.client = client
        self.gateway_id = gateway_id
        self.channel = gateway_channel(gateway_id)
        self.command_channels = {command_channel(gateway_id, s): s for s in services}
        self.ready_timeout = ready_timeout
        self.alive_ttl = alive_ttl
        self.subscriber = Subscriber(client, self._on_bus_message)
        self.publisher = Publisher(client, max_waiting=max_waiting)
        self.max_backlog = max_backlog
        self.behind_after = behind_after
        # Topic messages read in this turn.
        self._read_this_turn = 0
        self._append = client.register_script(APPEND)
        self.links: dict[str, Link] = {}
        # Local connections subscribed to each topic channel.
        self.subscribers: dict[str, set[Link]] = {}
        # How many of them take each channel unconflated: its messages go out at once.
        self._strict: dict[str, int] = {}
        # While behind, the other channels' latest message of this turn, with the connections
        # subscribed when it came: it goes out at the end of the turn, and replaces what
        # came before it in the same turn (see _on_topic).
        self._latest: dict[str, tuple[Outgoing, list[Link]]] = {}
        self._ids = itertools.count(1)
        self._canaries: dict[str, asyncio.Future[None]] = {}
        # Close envelopes that reached no service, by connection: retried while alive.
        self._closes: dict[str, tuple[str, Envelope]] = {}  # (service, envelope)
        self._task: asyncio.Task[None] | None = None
        self._alive: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe to this gateway's own and command channels, start reading the bus and
        saying that this gateway is alive."""
        await self.subscriber.subscribe(self.channel, *self.command_channels)
        self._task = asyncio.create_task(self.subscriber.run())
        self._alive = asyncio.create_task(self._keep_alive(), name="gateway alive")

    async def stop(self) -> None:
        """Stop reading the bus, publishing and refreshing the alive key."""
        await cancel_and_wait({task for task in (self._alive, self._task) if task is not None})
        await self.publisher.aclose()

    async def _keep_alive(self) -> None:
        """Set :func:`bus.gateway_alive_key` with an expiry of ``alive_ttl``, every third of it,
        and publish again the close envelopes no service received.

        If the gateway dies, the key expires and the services forget its connections
        (docs/BUS.md, "Presence"); while it lives, every close reaches its service some day.
        A failure to set the key is logged, once until it works again.
        """
        key = gateway_alive_key(self.gateway_id)
        ttl_ms = max(1, round(self.alive_ttl * 1000))
        failing = False
        while True:
            try:
                await self.client.set(key, 1, px=ttl_ms)
            except RedisError as exc:
                if not failing:
                    logger.warning("! cannot set %s: %s", key, exc)
                failing = True
            else:
                failing = False
                await self._retry_closes()
            await asyncio.sleep(self.alive_ttl / 3)

    # Client connections.

    async def open(
        self,
        service: str,
        path: str,
        query: str,
        outbox: Outbox,
        identity: Identity | None = None,
    ) -> Link:
        """Register a new connection, of ``identity`` if a token proved one, and tell its
        service."""
        link = Link(f"{self.gateway_id}.{next(self._ids)}", service, path, query, outbox, identity)
        self.links[link.id] = link
        await self._publish(link, "open")
        return link

    async def forward(self, link: Link, message: str | bytes, received_at: float) -> None:
        """Publish a client's message, received at Unix time ``received_at``, to its service;
        tell the client if nobody got it."""
        if isinstance(message, bytes):
            await self._publish(
                link, "message", base64.b64encode(message).decode(), True, received_at
            )
        else:
            await self._publish(link, "message", message, False, received_at)

    async def close(self, link: Link) -> None:
        """Forget a connection that ended and tell its service."""
        self.links.pop(link.id, None)
        for channel in list(link.channels):
            await self._unsubscribe(link, channel)
        await self._publish(link, "close")

    async def _publish(
        self,
        link: Link,
        kind: Literal["open", "message", "close"],
        payload: str | None = None,
        binary: bool = False,
        received_at: float | None = None,
    ) -> None:
        now, identity = time.time(), link.identity
        envelope = Envelope(
            kind=kind,
            conn=link.id,
            seq=link.next_seq,
            gateway=self.gateway_id,
            path=link.path,
            query=link.query,
            payload=payload,
            binary=binary,
            received_at=now if received_at is None else received_at,
            published_at=now,
            user=None if identity is None else identity.subject,
            rooms=None if identity is None or identity.rooms is None else list(identity.rooms),
        )
        link.next_seq += 1
        problem = f"the {link.service} service is too far behind"
        try:
            appended: Appended | None = await self._append_envelope(link.service, envelope)
        except Overloaded:
            appended = Appended.FULL
            problem = "the gateway is overloaded"
        except RedisError as exc:
            logger.warning("! cannot append to %s: %s", link.service, exc)
            appended = None
        if appended is Appended.APPENDED:
            return
        if kind == "close" and len(self._closes) < MAX_RETRIED_CLOSES:
            # The service must hear of it some day, or the connection haunts its state.
            self._closes[envelope.conn] = (link.service, envelope)
        if appended is None:
            self._undelivered(link, kind, "bus_down", "the message bus is unreachable")
        elif appended is Appended.NO_REPLICA:
            self._undelivered(
                link, kind, "unavailable", f"the {link.service} service is not running"
            )
        else:
            self._undelivered(link, kind, "overloaded", problem)

    async def _append_envelope(self, service: str, envelope: Envelope) -> Appended:
        """Append an envelope to a service's stream, with the next batch (:data:`bus.APPEND`).

        Raises:
            Overloaded: too many envelopes wait to be published.
            RedisError: Redis is unreachable.
        """
        keys = [service_stream(service), service_replicas(service)]
        args: list[str | bytes | int] = [envelope.conn, envelope.encode(), self.max_backlog]
        return Appended(await self.publisher.run(self._append, keys, args))

    @property
    def overloaded(self) -> bool:
        """True while half of ``max_waiting`` envelopes or more wait to be published: new
        connections are refused, so that those already open keep being served."""
        return self.publisher.waiting >= self.publisher.max_waiting // 2

    async def _retry_closes(self) -> None:
        """Append again the close envelopes that no service received, until one does."""
        for conn, (service, envelope) in list(self._closes.items()):
            try:
                appended = await self._append_envelope(service, envelope)
            except (RedisError, Overloaded):
                return  # Redis is still away, or busy: next time.
            if appended is Appended.APPENDED:
                del self._closes[conn]

    def refuse(self, link: Link, code: str, problem: str) -> None:
        """Tell the client its message was refused before it was published, and why."""
        self._undelivered(link, "message", code, problem)

    def _undelivered(self, link: Link, kind: str, code: str, problem: str) -> None:
        """Tell the client at once that what it did reached no service."""
        metrics.UNDELIVERED.labels(reason=code).inc()
        if kind == "close":
            return  # Nobody is left to tell.
        what = "your message was not delivered" if kind == "message" else "try again later"
        error = {"type": "error", "code": code, "message": f"{problem}; {what}"}
        self._send(link, Outgoing.of(json.dumps(error)))

    # The bus.

    async def _on_bus_message(self, channel: str, data: bytes) -> None:
        service = self.command_channels.get(channel)
        if service is not None or channel == self.channel:
            try:
                command = decode_command(data)
            except BusError as exc:
                logger.warning("! dropped a malformed command: %s", exc)
                return
            await self._execute(command, service)
            return
        try:
            text, skipped = decode_topic(data)
            text.decode()
        except BusError as exc:
            logger.warning("! dropped a malformed topic message on %s: %s", channel, exc)
            return
        except UnicodeDecodeError:
            logger.warning("! dropped a topic message that is not UTF-8 on %s", channel)
            return
        self._on_topic(channel, Outgoing(True, text), skipped)

    def _on_topic(self, channel: str, message: Outgoing, skipped: Collection[str]) -> None:
        """Send a topic's message to its subscribers but the ``skipped`` connections: at
        once, unless the gateway is behind the bus and every subscriber takes the topic
        conflated; then at the end of this turn, as the latest of its topic.

        A gateway that falls behind reads many messages in one turn. Of a topic every
        subscriber takes conflated (quotes), it then sends only the latest, and so catches
        up, instead of sending every stale quote while the backlog grows in Redis
        (docs/BUS.md, "Conflation").
        """
        if not self._read_this_turn:
            asyncio.get_running_loop().call_soon(self._end_turn)
        self._read_this_turn += 1
        links = list(self.subscribers.get(channel, ()))
        if skipped:
            links = [link for link in links if link.id not in skipped]
        keeping_up = self._read_this_turn <= self.behind_after
        if keeping_up or self._strict.get(channel) or not links:
            self._fan_out(channel, message, links)
            return
        replaced = self._latest.get(channel)
        if replaced is not None:
            metrics.CONFLATED.inc(len(replaced[1]))
        self._latest[channel] = (message, links)

    def _end_turn(self) -> None:
        self._read_this_turn = 0
        latest, self._latest = self._latest, {}
        for channel, (message, links) in latest.items():
            # Not to those that unsubscribed since: the message would follow their goodbye.
            self._fan_out(channel, message, [link for link in links if channel in link.channels])

    def _fan_out(self, channel: str, message: Outgoing, links: list[Link]) -> None:
        sent = 0
        for link in links:
            sent += link.outbox.send(message, channel)
        metrics.MESSAGES_OUT.inc(sent)

    async def _execute(
        self, command: Send | Subscribe | Unsubscribe | Close | Canary, service: str | None
    ) -> None:
        """Carry out ``command`` from ``service``'s channel, or from this gateway's own
        (None), where only a canary belongs."""
        if isinstance(command, Canary):
            waiter = self._canaries.get(command.token)
            if service is None and waiter is not None and not waiter.done():
                waiter.set_result(None)
            return
        link = self.links.get(command.conn)
        if link is None:
            return  # The connection is gone; nothing to do.
        if link.service != service:
            logger.warning(
                "! dropped a command of %s for %s, a connection of %s",
                service or "nobody",
                link.id,
                link.service,
            )
            return
        match command:
            case Send(payload=payload, binary=True):
                try:
                    data = base64.b64decode(payload, validate=True)
                except binascii.Error:
                    logger.warning("! dropped a binary send to %s that is not base64", link.id)
                    return
                self._send(link, Outgoing.of(data))
            case Send(payload=payload):
                self._send(link, Outgoing.of(payload))
            case Subscribe(topic=topic, conflate=conflate):
                await self._subscribe(link, topic_channel(topic), conflate)
            case Unsubscribe(topic=topic):
                await self._unsubscribe(link, topic_channel(topic))
            case Close(reason=reason):
                link.outbox.close(reason)

    def _send(self, link: Link, message: Outgoing) -> None:
        if link.outbox.send(message):
            metrics.MESSAGES_OUT.inc()

    async def _subscribe(self, link: Link, channel: str, conflate: bool) -> None:
        self._count_strict(link, channel, -1)
        link.channels.add(channel)
        link.outbox.conflate(channel, conflate)
        self._count_strict(link, channel, +1)
        links = self.subscribers.setdefault(channel, set())
        links.add(link)
        if len(links) == 1:
            await self.subscriber.subscribe(channel)

    async def _unsubscribe(self, link: Link, channel: str) -> None:
        self._count_strict(link, channel, -1)
        link.channels.discard(channel)
        link.outbox.forget(channel)
        links = self.subscribers.get(channel, set())
        links.discard(link)
        if not links and self.subscribers.pop(channel, None) is not None:
            await self.subscriber.unsubscribe(channel)

    def _count_strict(self, link: Link, channel: str, change: int) -> None:
        """Count ``link`` in or out of ``channel``'s unconflated subscribers, if it is one."""
        if channel in link.channels and channel not in link.outbox.conflated:
            count = self._strict.get(channel, 0) + change
            if count:
                self._strict[channel] = count
            else:
                del self._strict[channel]

    async def ready(self) -> bool:
        """Send a canary through Redis to this gateway and wait for it to come back."""
        if not self.subscriber.connected.is_set():
            return False
        token = secrets.token_hex(8)
        waiter = self._canaries[token] = asyncio.get_running_loop().create_future()
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.ready_timeout):
                await self.publisher.publish(self.channel, encode_command(Canary(token=token)))
                await waiter
        except (TimeoutError, RedisError):
            return False
        finally:
            del self._canaries[token]
        metrics.REDIS_ROUND_TRIP.observe(time.perf_counter() - start)
        return True
