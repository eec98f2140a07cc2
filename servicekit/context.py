"""What handlers can do: send to connections, manage their topics, publish to topics.

:class:`Outbox` turns each action into a ``bus`` command on the gateway's channel or a
message on a topic's channel (docs/BUS.md); :class:`Context` binds it to the connection an
envelope is about, so that a handler writes ``await ctx.reply({...})``.
"""

from __future__ import annotations

import logging
import urllib.parse
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

import bus

from .messages import Message, encode

__all__ = ["Batch", "Connection", "Context", "Outbox"]


@dataclass(frozen=True, kw_only=True)
class Connection:
    """A client connection, as a gateway described it in an envelope.

    Attributes:
        id: the connection's id, unique across gateways.
        gateway: the id of the gateway holding it, where its commands go.
        path: the path the client connected to, for example ``/chat``.
        query: the query string it connected with, without ``?``.
    """

    id: str
    gateway: str
    path: str = ""
    query: str = ""

    @classmethod
    def from_envelope(cls, envelope: bus.Envelope) -> Connection:
        """Return the connection an envelope is about."""
        return cls(
            id=envelope.conn, gateway=envelope.gateway, path=envelope.path, query=envelope.query
        )

    def param(self, name: str) -> str | None:
        """Return the first value of ``name`` in the query string, decoded, or None."""
        values = urllib.parse.parse_qs(self.query, keep_blank_values=True).get(name)
        return values[0] if values else None


class Outbox:
    """Publishes a service's commands and topic messages on Redis.

    Single commands and messages go through a :class:`bus.Publisher`: what handlers publish
    in one event-loop turn goes in one pipeline, on one connection, so a burst never runs
    out of connections (docs/BUS.md, "Publishing").

    Args:
        client: the Redis client to publish with.
        service: the service's name: its commands go on its own channel of each gateway
            (:func:`bus.command_channel`), and what is sent is logged at debug level to
            ``wslab.<service>``.
    """

    def __init__(self, client: Redis, service: str) -> None:
        self.redis = client
        self.service = service
        self.logger = logging.getLogger(f"wslab.{service}")
        self.publisher = bus.Publisher(client)

    async def aclose(self) -> None:
        """Stop publishing: what waits fails."""
        await self.publisher.aclose()

    async def command(self, gateway: str, command: bus.Command) -> None:
        """Publish a command on a gateway's channel."""
        self.logger.debug("> %s %s", gateway, command)
        channel = bus.command_channel(gateway, self.service)
        await self.publisher.publish(channel, bus.encode_command(command))

    async def send(self, conn: Connection, message: Message) -> None:
        """Send one message to a connection (``bus.Send``)."""
        await self.command(conn.gateway, bus.Send(conn=conn.id, payload=encode(message)))

    async def subscribe(self, conn: Connection, topic: str) -> None:
        """Make a connection receive a topic's messages (``bus.Subscribe``)."""
        await self.command(conn.gateway, bus.Subscribe(conn=conn.id, topic=topic))

    async def unsubscribe(self, conn: Connection, topic: str) -> None:
        """Stop sending a topic's messages to a connection (``bus.Unsubscribe``)."""
        await self.command(conn.gateway, bus.Unsubscribe(conn=conn.id, topic=topic))

    async def close(self, conn: Connection, reason: str = "") -> None:
        """Close a connection; ``reason`` becomes the Close frame's body (``bus.Close``)."""
        await self.command(conn.gateway, bus.Close(conn=conn.id, reason=reason))

    async def publish(self, topic: str, message: Message) -> int:
        """Send a message to every connection subscribed to ``topic``.

        Returns:
            How many gateways received it (Redis ``PUBLISH``).
        """
        self.logger.debug("> topic %s", topic)
        return await self.publisher.publish(bus.topic_channel(topic), encode(message))

    def batch(self) -> Batch:
        """Return an empty :class:`Batch`, to publish several commands and messages at once."""
        return Batch(self.redis.pipeline(transaction=False), self.service, self.logger)


# Publishes ARGV's channel, message pairs in order.
_PUBLISH_ALL = """
for i = 1, #ARGV, 2 do
    redis.call('PUBLISH', ARGV[i], ARGV[i + 1])
end
"""


class Batch:
    """Commands and topic messages published together, in order, in one round trip.

    Nothing is sent before :meth:`execute`. Then a Lua script publishes them all, in the
    order they were added, with no other client's command in between (Redis runs a script
    alone). A gateway reads its commands and its topics on one connection, in Redis's
    order, so it acts on a batch's commands and messages in the order of the batch. One
    script rather than a pipeline of ``PUBLISH``: redis-py spends several times more on
    each reply than Redis on each message. Since the script runs alone, a batch of
    thousands of messages holds Redis's other clients for milliseconds.

    Args:
        pipeline: the Redis pipeline the script goes into, last.
        service: the service whose commands they are.
        logger: where to log the commands, at debug level.

    Attributes:
        pipeline: the same: other Redis commands added to it (``HSET``...) go out in the
            same round trip, before the batch's messages.
    """

    def __init__(self, pipeline: Pipeline, service: str, logger: logging.Logger) -> None:
        self.pipeline = pipeline
        self.service = service
        self.logger = logger
        self._messages: list[str | bytes] = []  # channel, message, channel, message...

    def __len__(self) -> int:
        """How many commands, messages and other Redis commands the batch holds."""
        return len(self._messages) // 2 + len(self.pipeline)

    def command(self, gateway: str, command: bus.Command) -> None:
        """Add a command for a gateway, as :meth:`Outbox.command` publishes it."""
        self.logger.debug("> %s %s", gateway, command)
        self._messages += (bus.command_channel(gateway, self.service), bus.encode_command(command))

    def publish(self, topic: str, message: Message) -> None:
        """Add a message for every connection subscribed to ``topic``.

        Unlike a command, it is not logged: a feed adds thousands a second.
        """
        self._messages += (bus.topic_channel(topic), encode(message))

    async def execute(self) -> None:
        """Publish everything added, in order, then empty the batch.

        Raises:
            redis.exceptions.RedisError, OSError: Redis could not be reached, or refused a
                command: some or all of the batch may not have been published.
        """
        if self._messages:
            self.pipeline.eval(_PUBLISH_ALL, 0, *self._messages)
            self._messages = []
        await self.pipeline.execute()


@dataclass(frozen=True)
class Context:
    """What a handler gets: the connection an envelope is about, and the outbox.

    Attributes:
        conn: the connection.
        outbox: the service's outbox, to address other connections or topics.
        envelope: the envelope being handled.
    """

    conn: Connection
    outbox: Outbox
    envelope: bus.Envelope

    @property
    def redis(self) -> Redis:
        """The service's Redis client, for state kept in Redis."""
        return self.outbox.redis

    async def reply(self, message: Message) -> None:
        """Send a message to this connection."""
        await self.outbox.send(self.conn, message)

    async def subscribe(self, topic: str) -> None:
        """Make this connection receive the topic's messages."""
        await self.outbox.subscribe(self.conn, topic)

    async def unsubscribe(self, topic: str) -> None:
        """Stop sending the topic's messages to this connection."""
        await self.outbox.unsubscribe(self.conn, topic)

    async def close(self, reason: str = "") -> None:
        """Close this connection."""
        await self.outbox.close(self.conn, reason)

    async def publish(self, topic: str, message: Message) -> int:
        """Send a message to every connection subscribed to ``topic``; see :class:`Outbox`."""
        return await self.outbox.publish(topic, message)
