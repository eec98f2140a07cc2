"""Playing the gateway's role on a real Redis, to test services from the outside.

:class:`FakeGateway` appends envelopes to a service's stream and reads, in the order
Redis delivered them, the commands sent to its own channel and the messages of the topics
it listens to. :func:`running` runs a service for the duration of a block.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

import bus
from servicekit import Service
from tests.waiting import POLL, within


@dataclass(frozen=True)
class Published:
    """A message a service published on a topic, decoded from JSON, and the connections
    that do not receive it (:func:`bus.skipping`)."""

    topic: str
    message: Any
    skipped: frozenset[str] = frozenset()
    #: The message as it was published, after the prefix.
    text: str = field(default="", compare=False)


class FakeGateway:
    """A gateway with no clients: it sends envelopes and records what comes back."""

    def __init__(self, redis_url: str, service: str, *, id: str = "gw-test") -> None:
        self.id = id
        self.service = service
        self.redis = Redis.from_url(redis_url)
        self.pubsub = self.redis.pubsub()
        # The seq of each connection's next envelope, as the gateway numbers them.
        self._seqs: dict[str, int] = {}
        # What a token said of each connection: its user and room patterns.
        self._identities: dict[str, tuple[str | None, list[str] | None]] = {}
        # Where envelopes go inside a together() block.
        self._together: Pipeline | None = None

    async def __aenter__(self) -> FakeGateway:
        await self._listen(bus.command_channel(self.id, self.service))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.pubsub.aclose()
        await self.redis.aclose()

    def conn(self, n: int) -> str:
        """The id of this gateway's connection number ``n``."""
        return f"{self.id}.{n}"

    async def listen(self, *topics: str) -> None:
        """Receive these topics' messages from now on."""
        await self._listen(*(bus.topic_channel(topic) for topic in topics))

    async def open(
        self,
        conn: str,
        query: str = "",
        path: str = "/",
        *,
        user: str | None = None,
        rooms: list[str] | None = None,
    ) -> None:
        """Open ``conn``; ``user`` and ``rooms``: what a verified token says of it, carried
        by every envelope of the connection from now on, as the gateway does."""
        self._identities[conn] = (user, rooms)
        await self._envelope("open", conn, query=query, path=path)

    async def message(
        self, conn: str, payload: str, *, query: str = "", binary: bool = False
    ) -> None:
        await self._envelope("message", conn, payload=payload, query=query, binary=binary)

    async def close(self, conn: str, query: str = "") -> None:
        await self._envelope("close", conn, query=query)

    async def append_raw(self, conn: str, data: bytes) -> None:
        """Append anything to the service's stream, as an envelope of ``conn``."""
        entry = {"conn": conn, "envelope": data}
        if self._together is not None:
            self._together.xadd(bus.service_stream(self.service), entry)  # type: ignore[arg-type]
        else:
            await self.redis.xadd(bus.service_stream(self.service), entry)  # type: ignore[arg-type]

    @contextlib.asynccontextmanager
    async def together(self) -> AsyncIterator[None]:
        """Append the block's envelopes at once (MULTI/EXEC), for the service to read them in
        one batch."""
        self._together = self.redis.pipeline(transaction=True)
        try:
            yield
            await self._together.execute()
        finally:
            self._together = None

    async def next(self) -> bus.Command | Published:
        """The next command to this gateway or message on a listened topic."""
        message = await within(self._next_message(), "a command or a topic message")
        channel = message["channel"].decode()
        if channel == bus.command_channel(self.id, self.service):
            return bus.decode_command(message["data"])
        topic = channel.removeprefix(bus.topic_channel(""))
        text, skipped = bus.decode_topic(message["data"])
        return Published(topic, json.loads(text), skipped, text.decode())

    async def reply(self, conn: str) -> Any:
        """The next item, which must be a Send to ``conn``: its payload, decoded."""
        command = await self.next()
        assert isinstance(command, bus.Send), command
        assert command.conn == conn
        return json.loads(command.payload)

    async def published(self, topic: str) -> Any:
        """The next item, which must be a message on ``topic`` for every connection: the
        message."""
        item = await self.next()
        assert isinstance(item, Published), item
        assert item == Published(topic, item.message), item
        return item.message

    async def said(self, conn: str, topic: str) -> Any:
        """The next two items, which must be a line said by ``conn``: sent to it, then
        published on ``topic`` for everyone else, the same text. The line's event."""
        command = await self.next()
        assert isinstance(command, bus.Send), command
        assert command.conn == conn
        published = await self.next()
        assert published == Published(topic, json.loads(command.payload), frozenset({conn}))
        assert isinstance(published, Published)
        assert published.text == command.payload
        return published.message

    async def _next_message(self) -> dict[str, Any]:
        while True:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is not None:
                received: dict[str, Any] = message
                return received

    async def _listen(self, *channels: str) -> None:
        await self.pubsub.subscribe(*channels)
        # Wait for the confirmations, so that nothing published from now on is missed.
        pending = {channel.encode() for channel in channels}

        async def confirmed() -> None:
            while pending:
                message = await self.pubsub.get_message(timeout=1)
                if message is not None and message["type"] == "subscribe":
                    pending.discard(message["channel"])

        await within(confirmed(), f"Redis to confirm the subscription to {', '.join(channels)}")

    async def _envelope(
        self,
        kind: Literal["open", "message", "close"],
        conn: str,
        *,
        payload: str | None = None,
        query: str = "",
        path: str = "/",
        binary: bool = False,
    ) -> None:
        now = time.time()
        user, rooms = self._identities.get(conn, (None, None))
        seq = 0 if kind == "open" else self._seqs.get(conn, 1)
        self._seqs[conn] = seq + 1
        envelope = bus.Envelope(
            kind=kind,
            conn=conn,
            seq=seq,
            gateway=self.id,
            path=path,
            query=query,
            payload=payload,
            binary=binary,
            received_at=now,
            published_at=now,
            user=user,
            rooms=rooms,
        )
        await self.append_raw(conn, envelope.encode())


async def serving(service: Service, task: asyncio.Task[None]) -> None:
    """Wait until ``service``, run by ``task``, owns all its partitions; fail early if
    ``task`` ends."""

    async def owning() -> None:
        while len(service.partitions.owned) < service.partitions.count:
            if task.done():
                task.result()  # Raises what ended it.
                raise AssertionError("the service stopped before owning its partitions")
            await asyncio.sleep(POLL)

    await within(owning(), f"the {service.name} service to own its partitions")


async def wait_registered(redis: Redis, service: str) -> None:
    """Wait until a replica of ``service`` (another process) is registered as live."""

    async def registered() -> None:
        while not await redis.zcard(bus.service_replicas(service)):
            await asyncio.sleep(POLL)

    await within(registered(), f"a replica of the {service} service to register")


@contextlib.asynccontextmanager
async def running(service: Service) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``service`` in a task, owning all its partitions, until the block ends."""
    task = asyncio.create_task(service.run())
    try:
        await serving(service, task)
        yield task
    finally:
        service.stop()
        await within(task, f"the {service.name} service to stop")
