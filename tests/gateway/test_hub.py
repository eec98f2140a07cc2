"""Tests of gateway.hub against a real Redis: envelopes out, commands in, topics fanned out.

Connections are :class:`RecordingOutbox` objects that record what the hub gives them; the
service side is tests/gateway/service.py's :class:`FakeService`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
import redis.asyncio as redis

from bus import (
    Close,
    Envelope,
    Send,
    Subscribe,
    Unsubscribe,
    gateway_channel,
    service_channel,
    topic_channel,
)
from bus import gateway_alive_key as alive_key
from gateway.hub import ALIVE_TTL, Hub
from tests.gateway.metrics import sample
from tests.gateway.service import FakeService, wait_subscribers
from tests.waiting import HANG, POLL, within
from wsdraft import PreparedMessage

GATEWAY = "gw-test"
FRAGMENT_SIZE = 64 * 1024


@dataclass(frozen=True)
class Closed:
    """The hub closed a connection with this reason."""

    reason: str


class RecordingOutbox:
    """An Outbox that records what the hub gives it.

    Attributes:
        sent: the messages, in order.
        latest_of: the ``latest_of`` of each message sent.
        dropped: the keys of ``drop_held`` calls, in order.
        closed: the reasons of ``close`` calls, in order.
    """

    def __init__(self) -> None:
        self.sent: list[PreparedMessage] = []
        self.latest_of: list[str | None] = []
        self.dropped: list[str] = []
        self.closed: list[str] = []
        self._events: asyncio.Queue[PreparedMessage | Closed] = asyncio.Queue()

    def send_prepared(self, message: PreparedMessage, latest_of: str | None = None) -> bool:
        self.sent.append(message)
        self.latest_of.append(latest_of)
        self._events.put_nowait(message)
        return True

    def drop_held(self, latest_of: str) -> None:
        self.dropped.append(latest_of)

    def close(self, reason: str) -> None:
        self.closed.append(reason)
        self._events.put_nowait(Closed(reason))

    async def next(self) -> PreparedMessage | Closed:
        """What the hub did next with this connection."""
        return await within(self._events.get(), "the hub to send to or close a connection")


def text(value: str) -> PreparedMessage:
    return PreparedMessage.text(value, FRAGMENT_SIZE)


def error(code: str, message: str) -> dict[str, str]:
    return {"type": "error", "code": code, "message": message}


def decode_json(message: PreparedMessage) -> object:
    """The JSON in a short text message (one frame, payload under 126 bytes)."""
    (frame,) = message.frames
    assert frame[0] == 0x84  # FIN | TEXT
    assert frame[1] == len(frame) - 2 < 126
    return json.loads(frame[2:])


@asynccontextmanager
async def running_hub(
    client: redis.Redis,
    gateway_id: str = GATEWAY,
    *,
    ready_timeout: float = HANG,
    alive_ttl: float = ALIVE_TTL,
) -> AsyncIterator[Hub]:
    """A started hub, reading its command channel."""
    hub = Hub(
        client,
        gateway_id,
        fragment_size=FRAGMENT_SIZE,
        ready_timeout=ready_timeout,
        alive_ttl=alive_ttl,
    )
    await hub.start()
    try:
        await within(hub.subscriber.connected.wait(), "the hub to connect to Redis")
        # Connected means SUBSCRIBE was sent; wait until Redis has it too.
        await wait_subscribers(client, hub.channel, 1)
        yield hub
    finally:
        await hub.stop()


@pytest.fixture
async def hub(client: redis.Redis) -> AsyncIterator[Hub]:
    async with running_hub(client) as hub:
        yield hub


@pytest.fixture
async def service(client: redis.Redis) -> AsyncIterator[FakeService]:
    async with FakeService(client, "chat") as service:
        yield service


async def command(client: redis.Redis, data: bytes) -> None:
    """Publish raw bytes on the hub's command channel."""
    assert await client.publish(gateway_channel(GATEWAY), data) == 1


# Envelopes: gateway -> service.


async def test_open_publishes_an_open_envelope_to_the_service_channel(
    hub: Hub, service: FakeService
) -> None:
    outbox = RecordingOutbox()
    before = time.time()
    link = await hub.open("chat", "/chat", "nick=alice", outbox)
    after = time.time()
    raw = await service.next_raw()
    envelope = Envelope.decode(raw)
    assert json.loads(raw)["v"] == 1
    assert link.id == "gw-test.1"
    assert envelope == Envelope(
        kind="open",
        conn="gw-test.1",
        seq=0,
        gateway="gw-test",
        path="/chat",
        query="nick=alice",
        payload=None,
        binary=False,
        received_at=envelope.published_at,
        published_at=envelope.published_at,
    )
    assert before <= envelope.published_at <= after
    assert hub.links == {"gw-test.1": link}
    assert outbox.sent == []


async def test_each_connection_gets_its_own_id(hub: Hub, service: FakeService) -> None:
    links = [await hub.open("chat", "/chat", "", RecordingOutbox()) for _ in range(3)]
    assert [link.id for link in links] == ["gw-test.1", "gw-test.2", "gw-test.3"]
    assert [(await service.next_envelope()).conn for _ in links] == [link.id for link in links]


@pytest.mark.parametrize(
    ("message", "payload", "binary"),
    [("hello", "hello", False), (b"\x00\xff\x10", "AP8Q", True)],
)
async def test_a_message_publishes_a_message_envelope(
    hub: Hub, service: FakeService, message: str | bytes, payload: str, binary: bool
) -> None:
    link = await hub.open("chat", "/chat", "nick=bob", RecordingOutbox())
    await service.next_envelope()
    before = time.time()
    await hub.forward(link, message)
    after = time.time()
    envelope = await service.next_envelope()
    assert envelope == Envelope(
        kind="message",
        conn=link.id,
        seq=1,
        gateway="gw-test",
        path="/chat",
        query="nick=bob",
        payload=payload,
        binary=binary,
        received_at=envelope.received_at,
        published_at=envelope.published_at,
    )
    assert before <= envelope.received_at <= envelope.published_at <= after


async def test_close_publishes_a_close_envelope_and_forgets_the_connection(
    hub: Hub, service: FakeService, client: redis.Redis
) -> None:
    outbox = RecordingOutbox()
    link = await hub.open("chat", "/chat", "", outbox)
    await service.next_envelope()
    await service.command(GATEWAY, Subscribe(conn=link.id, topic="chat.lobby"))
    await wait_subscribers(client, topic_channel("chat.lobby"), 1)

    await hub.close(link)
    envelope = await service.next_envelope()
    assert envelope == Envelope(
        kind="close",
        conn=link.id,
        seq=1,
        gateway="gw-test",
        path="/chat",
        query="",
        payload=None,
        binary=False,
        received_at=envelope.published_at,
        published_at=envelope.published_at,
    )
    assert hub.links == {}
    assert hub.subscribers == {}
    assert link.channels == set()
    await wait_subscribers(client, topic_channel("chat.lobby"), 0)


async def test_envelopes_go_to_the_service_of_the_connection(hub: Hub, client: redis.Redis) -> None:
    async with FakeService(client, "stocks") as stocks:
        link = await hub.open("stocks", "/stocks", "", RecordingOutbox())
        assert (await stocks.next_envelope()).conn == link.id
        assert stocks.channel == service_channel("stocks") == "wslab:svc:stocks"


# Undelivered envelopes.


async def test_a_message_nobody_receives_gets_an_unavailable_error_at_once(hub: Hub) -> None:
    before = sample("wslab_undelivered_total", reason="unavailable")
    outbox = RecordingOutbox()
    link = await hub.open("chat", "/chat", "", outbox)
    # Returned: the client was told before open() and forward() did.
    assert [decode_json(message) for message in outbox.sent] == [
        error("unavailable", "the chat service is not running; try again later")
    ]
    await hub.forward(link, "hello?")
    assert decode_json(outbox.sent[1]) == error(
        "unavailable", "the chat service is not running; your message was not delivered"
    )
    await hub.close(link)
    assert len(outbox.sent) == 2  # Nobody is left to tell about the close.
    assert sample("wslab_undelivered_total", reason="unavailable") == before + 3


async def test_with_redis_unreachable_a_message_gets_a_bus_down_error(
    unreachable_redis_url: str,
) -> None:
    before = sample("wslab_undelivered_total", reason="bus_down")
    client = redis.Redis.from_url(unreachable_redis_url)
    try:
        hub = Hub(client, GATEWAY, fragment_size=FRAGMENT_SIZE, ready_timeout=HANG)
        outbox = RecordingOutbox()
        link = await hub.open("chat", "/chat", "", outbox)
        await hub.forward(link, "hello?")
        await hub.close(link)
    finally:
        await client.aclose()
    assert [decode_json(message) for message in outbox.sent] == [
        error("bus_down", "the message bus is unreachable; try again later"),
        error("bus_down", "the message bus is unreachable; your message was not delivered"),
    ]
    assert sample("wslab_undelivered_total", reason="bus_down") == before + 3


# Commands: service -> gateway.


async def test_send_commands_reach_the_connection(hub: Hub, service: FakeService) -> None:
    outbox = RecordingOutbox()
    link = await hub.open("chat", "/chat", "", outbox)
    await service.command(GATEWAY, Send(conn=link.id, payload="welcome, déjà vu"))
    assert await outbox.next() == text("welcome, déjà vu")
    data = bytes(range(256))
    binary = Send(conn=link.id, payload=base64.b64encode(data).decode(), binary=True)
    await service.command(GATEWAY, binary)
    assert await outbox.next() == PreparedMessage.binary(data, FRAGMENT_SIZE)


async def test_a_long_send_is_framed_in_fragments(hub: Hub, service: FakeService) -> None:
    outbox = RecordingOutbox()
    link = await hub.open("chat", "/chat", "", outbox)
    await service.command(GATEWAY, Send(conn=link.id, payload="x" * 70_000))
    message = await outbox.next()
    assert message == text("x" * 70_000)
    assert isinstance(message, PreparedMessage)
    assert len(message.frames) == 2


async def test_a_close_command_closes_the_connection_with_its_reason(
    hub: Hub, service: FakeService
) -> None:
    outbox = RecordingOutbox()
    link = await hub.open("chat", "/chat", "", outbox)
    await service.command(GATEWAY, Close(conn=link.id, reason="kicked by the moderator"))
    assert await outbox.next() == Closed("kicked by the moderator")


async def test_subscribe_and_unsubscribe_commands_start_and_stop_a_topic(
    hub: Hub, service: FakeService, client: redis.Redis
) -> None:
    outbox = RecordingOutbox()
    link = await hub.open("chat", "/chat", "", outbox)
    channel = topic_channel("chat.lobby")
    await service.command(GATEWAY, Subscribe(conn=link.id, topic="chat.lobby"))
    await wait_subscribers(client, channel, 1)
    assert link.channels == {channel}
    assert await client.publish(channel, "hello lobby") == 1
    assert await outbox.next() == text("hello lobby")

    await service.command(GATEWAY, Unsubscribe(conn=link.id, topic="chat.lobby"))
    await wait_subscribers(client, channel, 0)
    assert link.channels == set()
    assert hub.subscribers == {}
    assert await client.publish(channel, "nobody hears this") == 0
    await service.command(GATEWAY, Send(conn=link.id, payload="marker"))
    assert await outbox.next() == text("marker")
    assert outbox.sent == [text("hello lobby"), text("marker")]


async def test_commands_for_unknown_connections_are_ignored(hub: Hub, service: FakeService) -> None:
    outbox = RecordingOutbox()
    link = await hub.open("chat", "/chat", "", outbox)
    gone = await hub.open("chat", "/chat", "", RecordingOutbox())
    await hub.close(gone)
    for conn in ("gw-test.999", "gw-other.1", gone.id):
        await service.command(GATEWAY, Send(conn=conn, payload="lost"))
        await service.command(GATEWAY, Subscribe(conn=conn, topic="chat.lobby"))
        await service.command(GATEWAY, Unsubscribe(conn=conn, topic="chat.lobby"))
        await service.command(GATEWAY, Close(conn=conn, reason="lost"))
    await service.command(GATEWAY, Send(conn=link.id, payload="marker"))
    assert await outbox.next() == text("marker")
    assert outbox.closed == []
    assert hub.subscribers == {}
    assert list(hub.links) == [link.id]


# Each names the test's connection, so that one wrongly executed would show.
CONN = "gw-test.1"
SEND = {"v": 1, "op": "send", "conn": CONN, "payload": "x"}
MALFORMED: list[tuple[object, str]] = [
    (b"not json", "not JSON"),
    ([1, 2], "not a JSON object"),
    ({**SEND, "v": None}, "unsupported bus version, expected 1"),
    ({**SEND, "v": 2}, "unsupported bus version, expected 1"),
    ({**SEND, "op": "explode"}, "unknown command 'explode'"),
    ({**SEND, "op": None}, "unknown command None"),
    ({**SEND, "conn": 1}, "invalid 'conn' in Send: 1"),
    ({**SEND, "binary": 1}, "invalid 'binary' in Send: 1"),
    ({**SEND, "to": "all"}, "unknown field 'to' in Send"),
    ({"v": 1, "op": "close", "conn": CONN, "reason": None}, "invalid 'reason' in Close: None"),
]


async def test_malformed_commands_are_logged_and_dropped_without_stopping_the_hub(
    hub: Hub, service: FakeService, client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = RecordingOutbox()
    link = await hub.open("chat", "/chat", "", outbox)
    assert link.id == CONN
    with caplog.at_level(logging.WARNING, logger="wslab.gateway"):
        for data, _ in MALFORMED:
            await command(client, data if isinstance(data, bytes) else json.dumps(data).encode())
        await command(client, json.dumps({"v": 1, "op": "send", "conn": CONN}).encode())
        await service.command(GATEWAY, Send(conn=link.id, payload="still here"))
        assert await outbox.next() == text("still here")
    assert outbox.sent == [text("still here")]
    assert outbox.closed == []
    dropped = [
        record.getMessage()
        for record in caplog.records
        if record.name == "wslab.gateway" and record.levelno == logging.WARNING
    ]
    assert dropped[:-1] == [f"! dropped a malformed command: {reason}" for _, reason in MALFORMED]
    assert dropped[-1].startswith("! dropped a malformed command: incomplete Send: ")


@pytest.mark.parametrize("payload", ["abc", "a!b?", "AP8Q\n"])
async def test_a_binary_send_that_is_not_base64_is_dropped(
    hub: Hub, service: FakeService, caplog: pytest.LogCaptureFixture, payload: str
) -> None:
    outbox = RecordingOutbox()
    link = await hub.open("chat", "/chat", "", outbox)
    with caplog.at_level(logging.WARNING, logger="wslab.gateway"):
        await service.command(GATEWAY, Send(conn=link.id, payload=payload, binary=True))
        await service.command(GATEWAY, Send(conn=link.id, payload="marker"))
        assert await outbox.next() == text("marker")
    assert outbox.sent == [text("marker")]
    assert [record.getMessage() for record in caplog.records] == [
        f"! dropped a binary send to {link.id} that is not base64"
    ]


# Topics: service -> every subscribed connection.


async def test_a_topic_message_reaches_every_subscribed_link_encoded_once(
    hub: Hub, service: FakeService, client: redis.Redis
) -> None:
    lobby = [RecordingOutbox() for _ in range(3)]
    other = RecordingOutbox()
    for outbox in lobby:
        link = await hub.open("chat", "/chat", "", outbox)
        await service.command(GATEWAY, Subscribe(conn=link.id, topic="chat.lobby"))
    elsewhere = await hub.open("chat", "/chat", "", other)
    await service.command(GATEWAY, Subscribe(conn=elsewhere.id, topic="chat.other"))
    await wait_subscribers(client, topic_channel("chat.lobby"), 1)
    await wait_subscribers(client, topic_channel("chat.other"), 1)

    # One subscription per gateway, however many of its connections are subscribed.
    assert await client.publish(topic_channel("chat.lobby"), "hello lobby") == 1
    received = [await outbox.next() for outbox in lobby]
    assert received[0] == text("hello lobby")
    assert all(message is received[0] for message in received)

    await service.command(GATEWAY, Send(conn=elsewhere.id, payload="marker"))
    assert await other.next() == text("marker")
    assert other.sent == [text("marker")]


async def test_a_topic_stays_subscribed_while_one_link_still_wants_it(
    hub: Hub, service: FakeService, client: redis.Redis
) -> None:
    first, second = RecordingOutbox(), RecordingOutbox()
    links = [await hub.open("chat", "/chat", "", outbox) for outbox in (first, second)]
    for link in links:
        await service.command(GATEWAY, Subscribe(conn=link.id, topic="chat.lobby"))
    await wait_subscribers(client, topic_channel("chat.lobby"), 1)
    await hub.close(links[0])
    assert await client.publish(topic_channel("chat.lobby"), "still here") == 1
    assert await second.next() == text("still here")
    assert first.sent == []


async def test_a_topic_message_that_is_not_utf8_is_dropped(
    hub: Hub, service: FakeService, client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = RecordingOutbox()
    link = await hub.open("chat", "/chat", "", outbox)
    await service.command(GATEWAY, Subscribe(conn=link.id, topic="chat.lobby"))
    await wait_subscribers(client, topic_channel("chat.lobby"), 1)
    with caplog.at_level(logging.WARNING, logger="wslab.gateway"):
        await client.publish(topic_channel("chat.lobby"), b"caf\xe9")
        await client.publish(topic_channel("chat.lobby"), "café")
        assert await outbox.next() == text("café")
    assert outbox.sent == [text("café")]
    assert [record.getMessage() for record in caplog.records] == [
        "! dropped a topic message that is not UTF-8 on wslab:topic:chat.lobby"
    ]


# Conflated topics.


async def test_messages_of_a_conflated_topic_go_out_as_the_latest_of_its_channel(
    hub: Hub, service: FakeService, client: redis.Redis
) -> None:
    outbox = RecordingOutbox()
    link = await hub.open("chat", "/chat", "", outbox)
    quotes, lobby = topic_channel("quotes.MSFT"), topic_channel("chat.lobby")
    await service.command(GATEWAY, Subscribe(conn=link.id, topic="quotes.MSFT", conflate=True))
    await service.command(GATEWAY, Subscribe(conn=link.id, topic="chat.lobby"))
    await wait_subscribers(client, quotes, 1)
    await wait_subscribers(client, lobby, 1)
    assert link.conflated == {quotes}

    assert await client.publish(quotes, "MSFT 27.91") == 1
    assert await outbox.next() == text("MSFT 27.91")
    assert await client.publish(lobby, "hello lobby") == 1
    assert await outbox.next() == text("hello lobby")
    await service.command(GATEWAY, Send(conn=link.id, payload="a reply"))
    assert await outbox.next() == text("a reply")
    assert outbox.latest_of == [quotes, None, None]


async def test_subscribing_again_without_conflate_sends_every_message(
    hub: Hub, service: FakeService, client: redis.Redis
) -> None:
    outbox = RecordingOutbox()
    link = await hub.open("chat", "/chat", "", outbox)
    quotes = topic_channel("quotes.MSFT")
    await service.command(GATEWAY, Subscribe(conn=link.id, topic="quotes.MSFT", conflate=True))
    await service.command(GATEWAY, Subscribe(conn=link.id, topic="quotes.MSFT"))
    await wait_subscribers(client, quotes, 1)
    await service.command(GATEWAY, Send(conn=link.id, payload="marker"))
    assert await outbox.next() == text("marker")
    assert link.conflated == set()

    assert await client.publish(quotes, "MSFT 27.91") == 1
    assert await outbox.next() == text("MSFT 27.91")
    assert outbox.latest_of == [None, None]


async def test_subscribing_again_to_a_conflated_topic_drops_its_held_message(
    hub: Hub, service: FakeService
) -> None:
    # A quote held for a slow client is older than the snapshot sent before a new Subscribe.
    outbox = RecordingOutbox()
    link = await hub.open("chat", "/chat", "", outbox)
    for _ in range(2):
        await service.command(GATEWAY, Subscribe(conn=link.id, topic="quotes.MSFT", conflate=True))
    await service.command(GATEWAY, Send(conn=link.id, payload="marker"))
    assert await outbox.next() == text("marker")
    assert outbox.dropped == [topic_channel("quotes.MSFT")]
    assert link.conflated == {topic_channel("quotes.MSFT")}


async def test_unsubscribing_from_a_conflated_topic_drops_its_held_message(
    hub: Hub, service: FakeService, client: redis.Redis
) -> None:
    outbox = RecordingOutbox()
    link = await hub.open("chat", "/chat", "", outbox)
    for topic, conflate in (("quotes.MSFT", True), ("chat.lobby", False)):
        await service.command(GATEWAY, Subscribe(conn=link.id, topic=topic, conflate=conflate))
        await service.command(GATEWAY, Unsubscribe(conn=link.id, topic=topic))
    await service.command(GATEWAY, Send(conn=link.id, payload="marker"))
    assert await outbox.next() == text("marker")
    assert outbox.dropped == [topic_channel("quotes.MSFT")]
    assert link.channels == link.conflated == set()


# Readiness.


async def test_ready_is_true_when_the_canary_comes_back_through_redis(hub: Hub) -> None:
    before = sample("wslab_redis_round_trip_seconds_count")
    assert await hub.ready() is True
    assert sample("wslab_redis_round_trip_seconds_count") == before + 1
    assert hub._canaries == {}


async def test_ready_is_false_when_the_subscriber_is_not_connected(
    unreachable_redis_url: str,
) -> None:
    client = redis.Redis.from_url(unreachable_redis_url)
    hub = Hub(client, GATEWAY, fragment_size=FRAGMENT_SIZE, ready_timeout=HANG)
    try:
        await hub.start()
        assert await hub.ready() is False
    finally:
        await hub.stop()
        await client.aclose()


async def test_ready_is_false_when_the_canary_does_not_come_back(client: redis.Redis) -> None:
    async with running_hub(client, ready_timeout=0.2) as hub:
        # Redis answers, but the command channel no longer reaches this gateway.
        await hub.subscriber.unsubscribe(hub.channel)
        await wait_subscribers(client, hub.channel, 0)
        assert await hub.ready() is False
        assert hub._canaries == {}


# Alive key.


async def until_set(client: redis.Redis, key: str) -> tuple[bytes, int]:
    """Wait until ``key`` is set in Redis; return its value and its TTL (ms), read at once."""

    async def poll() -> tuple[bytes, int]:
        while True:
            async with client.pipeline() as pipe:  # MULTI: both read at the same time.
                pipe.get(key)
                pipe.pttl(key)
                value, ttl = await pipe.execute()
            if value is not None:
                return value, ttl
            await asyncio.sleep(POLL)

    return await within(poll(), f"{key} to be set")


async def test_a_running_hub_keeps_its_alive_key_set_with_an_expiry(
    client: redis.Redis, hub: Hub
) -> None:
    key = "wslab:gw:gw-test:alive"
    assert alive_key(GATEWAY) == key
    value, ttl = await until_set(client, key)
    assert value == b"1"
    assert 0 < ttl <= ALIVE_TTL * 1000


async def test_the_alive_key_is_set_again_after_it_expires(client: redis.Redis) -> None:
    key = alive_key(GATEWAY)
    async with running_hub(client, alive_ttl=0.3):
        await until_set(client, key)
        await client.delete(key)  # As if it had expired.
        await until_set(client, key)


async def test_stopping_the_hub_stops_refreshing_the_alive_key(client: redis.Redis) -> None:
    async with running_hub(client, alive_ttl=0.3) as hub:
        task = hub._alive
        assert task is not None
        assert not task.done()
    assert task.done()
