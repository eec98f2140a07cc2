"""The chat through a real gateway hub: what a client receives, whatever Redis's timing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from bus import topic_channel
from chat_service.keys import seq_key
from gateway.hub import Hub
from servicekit import Service
from tests.gateway.test_hub import FakeConnection, running_hub
from tests.waiting import until


def unframed(is_text: bool, payload: bytes) -> tuple[bytes, ...]:
    """A framing that leaves each message as it is, to read it back."""
    return (payload,)


@pytest.fixture
async def hub(redis_url: str) -> AsyncIterator[Hub]:
    client = redis.Redis.from_url(redis_url)
    try:
        async with running_hub(client) as hub:
            yield hub
    finally:
        await client.aclose()


async def test_a_line_said_before_the_welcome_reaches_its_speaker_while_its_gateway_subscribes(
    chat: Service, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The gateway, new to the lobby, subscribes to it on the chat's command; the chat goes
    # on meanwhile, and says the line before that SUBSCRIBE reaches Redis.
    subscribe, subscribing = hub.subscriber.subscribe, asyncio.Event()

    async def late_subscribe(*channels: str) -> None:
        if topic_channel("chat.lobby") in channels:
            await subscribing.wait()
        await subscribe(*channels)

    monkeypatch.setattr(hub.subscriber, "subscribe", late_subscribe)
    alice = FakeConnection(unframed)
    link = await hub.open("chat", "/chat", "nick=alice", alice.outbox)
    await hub.forward(link, "hello", time.time())

    async def said() -> bool:
        return await hub.client.get(seq_key("lobby")) == b"2"  # The join, then the line.

    await until(said, "the chat to say alice's line")
    subscribing.set()
    received = []
    for _ in range(4):
        (frame,) = await alice.next()
        received.append(json.loads(frame))
    assert [message["type"] for message in received] == ["welcome", "history", "members", "message"]
    assert (received[3]["nick"], received[3]["text"], received[3]["seq"]) == ("alice", "hello", 2)
