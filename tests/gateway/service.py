"""A fake service on the bus: it reads the envelopes of its stream and answers with commands.

The test drives it step by step, so nothing runs behind the test's back::

    async with FakeService(client, "chat") as service:
        envelope = await service.next_envelope()
        await service.command(envelope.gateway, Send(conn=envelope.conn, payload="hi"))
"""

from __future__ import annotations

import time
from types import TracebackType

import redis.asyncio as redis

from bus import (
    Command,
    Envelope,
    command_channel,
    encode_command,
    format_id,
    parse_id,
    service_replicas,
    service_stream,
)
from tests.waiting import HANG, until, within


class FakeService:
    """A live replica of service ``name``, reading ``wslab:svc:<name>:in`` from its end,
    while the ``async with`` block runs."""

    def __init__(self, client: redis.Redis, name: str) -> None:
        self.client = client
        self.name = name
        self.stream = service_stream(name)
        self.replicas = service_replicas(name)
        self.position = "0-0"

    async def __aenter__(self) -> FakeService:
        if last := await self.client.xrevrange(self.stream, count=1):
            self.position = format_id(parse_id(last[0][0]))
        # Live for longer than any test: gateways append from now on.
        await self.client.zadd(self.replicas, {"fake": time.time() + 10 * HANG})
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.client.zrem(self.replicas, "fake")

    async def next_raw(self) -> bytes:
        """The next envelope appended to the service's stream, as appended."""

        async def next_entry() -> bytes:
            while True:
                found = await self.client.xread({self.stream: self.position}, count=1, block=1000)
                for _, [(entry_id, fields)] in found:
                    self.position = entry_id.decode()
                    data: bytes = fields[b"envelope"]
                    return data

        return await within(next_entry(), f"an envelope on {self.stream}")

    async def next_envelope(self) -> Envelope:
        """The next envelope appended to the service's stream."""
        return Envelope.decode(await self.next_raw())

    async def command(self, gateway: str, command: Command) -> None:
        """Publish a command to a gateway; it must be listening."""
        channel = command_channel(gateway, self.name)
        assert await self.client.publish(channel, encode_command(command)) == 1


async def wait_subscribers(client: redis.Redis, channel: str, count: int) -> None:
    """Wait until ``channel`` has ``count`` subscribers in Redis."""

    async def counted() -> bool:
        ((_, subscribers),) = await client.pubsub_numsub(channel)
        return bool(subscribers == count)

    await until(counted, f"{count} subscribers to {channel}")
