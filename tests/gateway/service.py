"""A fake service on the bus: it reads the envelopes of its channel and answers with commands.

The test drives it step by step, so nothing runs behind the test's back::

    async with FakeService(client, "chat") as service:
        envelope = await service.next_envelope()
        await service.command(envelope.gateway, Send(conn=envelope.conn, payload="hi"))
"""

from __future__ import annotations

from types import TracebackType

import redis.asyncio as redis

from bus import Command, Envelope, encode_command, gateway_channel, service_channel
from tests.waiting import until, within


class FakeService:
    """Subscribes to ``wslab:svc:<name>`` while the ``async with`` block runs."""

    def __init__(self, client: redis.Redis, name: str) -> None:
        self.client = client
        self.channel = service_channel(name)
        self.pubsub = client.pubsub(ignore_subscribe_messages=True)

    async def __aenter__(self) -> FakeService:
        await self.pubsub.subscribe(self.channel)
        # Subscribed once Redis says so: what the gateway publishes from now on arrives.
        await wait_subscribers(self.client, self.channel, 1)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.pubsub.aclose()

    async def next_raw(self) -> bytes:
        """The next message published on the service's channel, as published."""

        async def next_message() -> bytes:
            while True:
                message = await self.pubsub.get_message(timeout=1)
                if message is not None:
                    data: bytes = message["data"]
                    return data

        return await within(next_message(), f"a message on {self.channel}")

    async def next_envelope(self) -> Envelope:
        """The next envelope published on the service's channel."""
        return Envelope.decode(await self.next_raw())

    async def command(self, gateway: str, command: Command) -> None:
        """Publish a command to a gateway; it must be listening."""
        assert await self.client.publish(gateway_channel(gateway), encode_command(command)) == 1


async def wait_subscribers(client: redis.Redis, channel: str, count: int) -> None:
    """Wait until ``channel`` has ``count`` subscribers in Redis."""

    async def counted() -> bool:
        ((_, subscribers),) = await client.pubsub_numsub(channel)
        return bool(subscribers == count)

    await until(counted, f"{count} subscribers to {channel}")
