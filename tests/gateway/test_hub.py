"""Tests of gateway.hub against a real Redis: envelopes out, commands in, topics fanned out.

Connections are :class:`FakeConnection` objects: a real :class:`gateway.outbox.Outbox` over a
writer that records the frames written and the closes; the service side is
tests/gateway/service.py's :class:`FakeService`.
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
    command_channel,
    encode_command,
    gateway_channel,
    service_stream,
    skipping,
    topic_channel,
)
from bus import gateway_alive_key as alive_key
from gateway.draft import draft_framing
from gateway.hub import ALIVE_TTL, Hub
from gateway.outbox import Framing, Outbox
from gateway.rfc6455 import RFC6455Wire
from tests.gateway.metrics import sample
from tests.gateway.service import FakeService, wait_subscribers
from tests.waiting import HANG, POLL, within

GATEWAY = "gw-test"
#: The services whose commands the hubs of these tests hear.
SERVICES = ("chat", "stocks")
FRAGMENT_SIZE = 64 * 1024
#: A fake connection's messages, as the draft frames them with the gateway's fragment size.
DRAFT = draft_framing(FRAGMENT_SIZE)

Frames = tuple[bytes, ...]


@dataclass(frozen=True)
class Closed:
    """The outbox closed its connection with this reason and code."""

    reason: str
    code: int = 1000


class FakeConnection:
    """A client connection whose real :class:`Outbox` writes to a recording fake.

    It is the outbox's :class:`gateway.outbox.Writer`: open until closed, with nothing ever
    waiting to be sent; like gateway.connection's :class:`Connection`, it owns its outbox.
    The outbox frames each message with ``framing``; by default, a framing of its own, equal
    to :data:`DRAFT`, as each real connection has its wire protocol's.

    Attributes:
        outbox: the connection's outbox, for :meth:`Hub.open`.
        written: the frames of each message written, in order.
        closed: the reasons of ``close`` calls, in order.
    """

    def __init__(self, framing: Framing | None = None) -> None:
        self._framing = framing or draft_framing(FRAGMENT_SIZE)
        self.outbox = Outbox(self, max_write_buffer=2**20)
        self.written: list[Frames] = []
        self.closed: list[str] = []
        self._events: asyncio.Queue[Frames | Closed] = asyncio.Queue()

    @property
    def framing(self) -> Framing:
        return self._framing

    def is_open(self) -> bool:
        return not self.closed

    def write(self, frames: Frames) -> None:
        self.written.append(frames)
        self._events.put_nowait(frames)

    def buffered(self) -> int:
        return 0

    def close(self, reason: str, code: int = 1000) -> None:
        self.closed.append(reason)
        self._events.put_nowait(Closed(reason, code))

    async def next(self) -> Frames | Closed:
        """What the outbox did next with this connection: a message's frames, or a close."""
        return await within(self._events.get(), "the hub to send to or close a connection")


def text(value: str, framing: Framing = DRAFT) -> Frames:
    """The frames of a text message."""
    return framing(True, value.encode())


def binary(data: bytes) -> Frames:
    """The frames of a binary message."""
    return DRAFT(False, data)


def error(code: str, message: str) -> dict[str, str]:
    return {"type": "error", "code": code, "message": message}


def decode_json(frames: Frames) -> object:
    """The JSON in a short text message (one draft frame, payload under 126 bytes)."""
    (frame,) = frames
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
    max_waiting: int = 100_000,
    max_backlog: int = 200_000,
    behind_after: int = 100,
) -> AsyncIterator[Hub]:
    """A started hub, reading its command channel."""
    hub = Hub(
        client,
        gateway_id,
        SERVICES,
        ready_timeout=ready_timeout,
        alive_ttl=alive_ttl,
        max_waiting=max_waiting,
        max_backlog=max_backlog,
        behind_after=behind_after,
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
    """Publish raw bytes on the chat's command channel of the hub."""
    assert await client.publish(command_channel(GATEWAY, "chat"), data) == 1


# Envelopes: gateway -> service.


async def test_open_appends_an_open_envelope_to_the_services_stream(
    hub: Hub, service: FakeService
) -> None:
    connection = FakeConnection()
    before = time.time()
    link = await hub.open("chat", "/chat", "nick=alice", connection.outbox)
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
    assert connection.written == []


async def test_each_connection_gets_its_own_id(hub: Hub, service: FakeService) -> None:
    links = [await hub.open("chat", "/chat", "", FakeConnection().outbox) for _ in range(3)]
    assert [link.id for link in links] == ["gw-test.1", "gw-test.2", "gw-test.3"]
    assert [(await service.next_envelope()).conn for _ in links] == [link.id for link in links]


@pytest.mark.parametrize(
    ("message", "payload", "binary"),
    [("hello", "hello", False), (b"\x00\xff\x10", "AP8Q", True)],
)
async def test_a_message_publishes_a_message_envelope(
    hub: Hub, service: FakeService, message: str | bytes, payload: str, binary: bool
) -> None:
    link = await hub.open("chat", "/chat", "nick=bob", FakeConnection().outbox)
    await service.next_envelope()
    before = time.time()
    # The time the gateway received it, however much later it is forwarded.
    await hub.forward(link, message, received_at=before - 5)
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
        received_at=before - 5,
        published_at=envelope.published_at,
    )
    assert before <= envelope.published_at <= after


async def test_close_publishes_a_close_envelope_and_forgets_the_connection(
    hub: Hub, service: FakeService, client: redis.Redis
) -> None:
    connection = FakeConnection()
    link = await hub.open("chat", "/chat", "", connection.outbox)
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
        link = await hub.open("stocks", "/stocks", "", FakeConnection().outbox)
        assert (await stocks.next_envelope()).conn == link.id
        assert stocks.stream == service_stream("stocks") == "wslab:svc:stocks:in"


# Undelivered envelopes.


async def test_a_message_nobody_receives_gets_an_unavailable_error_at_once(hub: Hub) -> None:
    before = sample("wslab_undelivered_total", reason="unavailable")
    connection = FakeConnection()
    link = await hub.open("chat", "/chat", "", connection.outbox)
    # Returned: the client was told before open() and forward() did.
    assert [decode_json(frames) for frames in connection.written] == [
        error("unavailable", "the chat service is not running; try again later")
    ]
    await hub.forward(link, "hello?", time.time())
    assert decode_json(connection.written[1]) == error(
        "unavailable", "the chat service is not running; your message was not delivered"
    )
    await hub.close(link)
    assert len(connection.written) == 2  # Nobody is left to tell about the close.
    assert sample("wslab_undelivered_total", reason="unavailable") == before + 3


async def test_with_redis_unreachable_a_message_gets_a_bus_down_error(
    unreachable_redis_url: str,
) -> None:
    before = sample("wslab_undelivered_total", reason="bus_down")
    client = redis.Redis.from_url(unreachable_redis_url)
    try:
        hub = Hub(client, GATEWAY, SERVICES, ready_timeout=HANG)
        connection = FakeConnection()
        link = await hub.open("chat", "/chat", "", connection.outbox)
        await hub.forward(link, "hello?", time.time())
        await hub.close(link)
    finally:
        await client.aclose()
    assert [decode_json(frames) for frames in connection.written] == [
        error("bus_down", "the message bus is unreachable; try again later"),
        error("bus_down", "the message bus is unreachable; your message was not delivered"),
    ]
    assert sample("wslab_undelivered_total", reason="bus_down") == before + 3


# Commands: service -> gateway.


async def test_send_commands_reach_the_connection(hub: Hub, service: FakeService) -> None:
    connection = FakeConnection()
    link = await hub.open("chat", "/chat", "", connection.outbox)
    await service.command(GATEWAY, Send(conn=link.id, payload="welcome, déjà vu"))
    assert await connection.next() == text("welcome, déjà vu")
    data = bytes(range(256))
    command = Send(conn=link.id, payload=base64.b64encode(data).decode(), binary=True)
    await service.command(GATEWAY, command)
    assert await connection.next() == binary(data)


async def test_a_long_send_to_a_draft_connection_is_framed_in_fragments(
    hub: Hub, service: FakeService
) -> None:
    connection = FakeConnection(draft_framing(FRAGMENT_SIZE))
    link = await hub.open("chat", "/chat", "", connection.outbox)
    await service.command(GATEWAY, Send(conn=link.id, payload="x" * 70_000))
    frames = await connection.next()
    assert frames == text("x" * 70_000)
    assert isinstance(frames, tuple)
    assert len(frames) == 2


async def test_a_close_command_closes_the_connection_with_its_reason(
    hub: Hub, service: FakeService
) -> None:
    connection = FakeConnection()
    link = await hub.open("chat", "/chat", "", connection.outbox)
    await service.command(GATEWAY, Close(conn=link.id, reason="kicked by the moderator"))
    assert await connection.next() == Closed("kicked by the moderator")


async def test_subscribe_and_unsubscribe_commands_start_and_stop_a_topic(
    hub: Hub, service: FakeService, client: redis.Redis
) -> None:
    connection = FakeConnection()
    link = await hub.open("chat", "/chat", "", connection.outbox)
    channel = topic_channel("chat.lobby")
    await service.command(GATEWAY, Subscribe(conn=link.id, topic="chat.lobby"))
    await wait_subscribers(client, channel, 1)
    assert link.channels == {channel}
    assert await client.publish(channel, "hello lobby") == 1
    assert await connection.next() == text("hello lobby")

    await service.command(GATEWAY, Unsubscribe(conn=link.id, topic="chat.lobby"))
    await wait_subscribers(client, channel, 0)
    assert link.channels == set()
    assert hub.subscribers == {}
    assert await client.publish(channel, "nobody hears this") == 0
    await service.command(GATEWAY, Send(conn=link.id, payload="marker"))
    assert await connection.next() == text("marker")
    assert connection.written == [text("hello lobby"), text("marker")]


async def test_commands_for_unknown_connections_are_ignored(hub: Hub, service: FakeService) -> None:
    connection = FakeConnection()
    link = await hub.open("chat", "/chat", "", connection.outbox)
    gone = await hub.open("chat", "/chat", "", FakeConnection().outbox)
    await hub.close(gone)
    for conn in ("gw-test.999", "gw-other.1", gone.id):
        await service.command(GATEWAY, Send(conn=conn, payload="lost"))
        await service.command(GATEWAY, Subscribe(conn=conn, topic="chat.lobby"))
        await service.command(GATEWAY, Unsubscribe(conn=conn, topic="chat.lobby"))
        await service.command(GATEWAY, Close(conn=conn, reason="lost"))
    await service.command(GATEWAY, Send(conn=link.id, payload="marker"))
    assert await connection.next() == text("marker")
    assert connection.closed == []
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
    connection = FakeConnection()
    link = await hub.open("chat", "/chat", "", connection.outbox)
    assert link.id == CONN
    with caplog.at_level(logging.WARNING, logger="wslab.gateway"):
        for data, _ in MALFORMED:
            await command(client, data if isinstance(data, bytes) else json.dumps(data).encode())
        await command(client, json.dumps({"v": 1, "op": "send", "conn": CONN}).encode())
        await service.command(GATEWAY, Send(conn=link.id, payload="still here"))
        assert await connection.next() == text("still here")
    assert connection.written == [text("still here")]
    assert connection.closed == []
    dropped = [
        record.getMessage()
        for record in caplog.records
        if record.name == "wslab.gateway" and record.levelno == logging.WARNING
    ]
    assert dropped[:-1] == [f"! dropped a malformed command: {reason}" for _, reason in MALFORMED]
    assert dropped[-1].startswith("! dropped a malformed command: incomplete Send: ")


async def test_a_service_s_commands_reach_only_its_own_connections(
    hub: Hub, service: FakeService, client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    connection = FakeConnection()
    link = await hub.open("chat", "/chat", "", connection.outbox)
    with caplog.at_level(logging.WARNING, logger="wslab.gateway"):
        async with FakeService(client, "stocks") as stocks:
            for forged in (Send(conn=link.id, payload="forged"), Close(conn=link.id)):
                await stocks.command(GATEWAY, forged)
            # The gateway's own channel takes nothing but its canary.
            own = encode_command(Send(conn=link.id, payload="forged too"))
            assert await client.publish(gateway_channel(GATEWAY), own) == 1
        await service.command(GATEWAY, Send(conn=link.id, payload="from the chat"))
        assert await connection.next() == text("from the chat")
    assert connection.written == [text("from the chat")]
    assert connection.closed == []
    dropped = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert dropped == [f"! dropped a command of stocks for {link.id}, a connection of chat"] * 2 + [
        f"! dropped a command of nobody for {link.id}, a connection of chat"
    ]


@pytest.mark.parametrize("payload", ["abc", "a!b?", "AP8Q\n"])
async def test_a_binary_send_that_is_not_base64_is_dropped(
    hub: Hub, service: FakeService, caplog: pytest.LogCaptureFixture, payload: str
) -> None:
    connection = FakeConnection()
    link = await hub.open("chat", "/chat", "", connection.outbox)
    with caplog.at_level(logging.WARNING, logger="wslab.gateway"):
        await service.command(GATEWAY, Send(conn=link.id, payload=payload, binary=True))
        await service.command(GATEWAY, Send(conn=link.id, payload="marker"))
        assert await connection.next() == text("marker")
    assert connection.written == [text("marker")]
    assert [record.getMessage() for record in caplog.records] == [
        f"! dropped a binary send to {link.id} that is not base64"
    ]


# Topics: service -> every subscribed connection.


async def test_a_topic_message_reaches_every_subscribed_link_encoded_once(
    hub: Hub, service: FakeService, client: redis.Redis
) -> None:
    lobby = [FakeConnection() for _ in range(3)]
    other = FakeConnection()
    for connection in lobby:
        link = await hub.open("chat", "/chat", "", connection.outbox)
        await service.command(GATEWAY, Subscribe(conn=link.id, topic="chat.lobby"))
    elsewhere = await hub.open("chat", "/chat", "", other.outbox)
    await service.command(GATEWAY, Subscribe(conn=elsewhere.id, topic="chat.other"))
    await wait_subscribers(client, topic_channel("chat.lobby"), 1)
    await wait_subscribers(client, topic_channel("chat.other"), 1)

    # One subscription per gateway, however many of its connections are subscribed.
    assert await client.publish(topic_channel("chat.lobby"), "hello lobby") == 1
    received = [await connection.next() for connection in lobby]
    assert received[0] == text("hello lobby")
    # Framed once: each connection's framing is its own, but equal, so they share the frames.
    assert all(frames is received[0] for frames in received)

    await service.command(GATEWAY, Send(conn=elsewhere.id, payload="marker"))
    assert await other.next() == text("marker")
    assert other.written == [text("marker")]


async def test_a_topic_message_is_framed_once_per_wire_protocol(
    hub: Hub, service: FakeService, client: redis.Redis
) -> None:
    drafts = [FakeConnection(draft_framing(FRAGMENT_SIZE)) for _ in range(2)]
    browsers = [FakeConnection(RFC6455Wire.framing) for _ in range(2)]
    for connection in drafts + browsers:
        link = await hub.open("chat", "/chat", "", connection.outbox)
        await service.command(GATEWAY, Subscribe(conn=link.id, topic="chat.lobby"))
    await wait_subscribers(client, topic_channel("chat.lobby"), 1)

    assert await client.publish(topic_channel("chat.lobby"), "hello lobby") == 1
    draft = [await connection.next() for connection in drafts]
    rfc6455 = [await connection.next() for connection in browsers]
    assert draft[0] == text("hello lobby", draft_framing(FRAGMENT_SIZE))
    assert rfc6455[0] == text("hello lobby", RFC6455Wire.framing)
    assert draft[0] != rfc6455[0]
    assert draft[1] is draft[0]
    assert rfc6455[1] is rfc6455[0]


async def test_a_topic_message_skips_the_connections_it_names_and_reaches_the_others(
    hub: Hub, service: FakeService, client: redis.Redis
) -> None:
    speaker, *others = [FakeConnection() for _ in range(3)]
    links = [await hub.open("chat", "/chat", "", c.outbox) for c in (speaker, *others)]
    for link in links:
        await service.command(GATEWAY, Subscribe(conn=link.id, topic="chat.lobby"))
    await wait_subscribers(client, topic_channel("chat.lobby"), 1)

    message = skipping([links[0].id]) + b"said by the first"
    assert await client.publish(topic_channel("chat.lobby"), message) == 1
    received = [await connection.next() for connection in others]
    assert received == [text("said by the first")] * 2
    assert received[1] is received[0]  # Framed once still.
    await service.command(GATEWAY, Send(conn=links[0].id, payload="marker"))
    assert await speaker.next() == text("marker")
    assert speaker.written == [text("marker")]


async def test_a_topic_stays_subscribed_while_one_link_still_wants_it(
    hub: Hub, service: FakeService, client: redis.Redis
) -> None:
    first, second = FakeConnection(), FakeConnection()
    links = [await hub.open("chat", "/chat", "", c.outbox) for c in (first, second)]
    for link in links:
        await service.command(GATEWAY, Subscribe(conn=link.id, topic="chat.lobby"))
    await wait_subscribers(client, topic_channel("chat.lobby"), 1)
    await hub.close(links[0])
    assert await client.publish(topic_channel("chat.lobby"), "still here") == 1
    assert await second.next() == text("still here")
    assert first.written == []


@pytest.mark.parametrize(
    ("data", "warning"),
    [
        (b"caf\xe9", "! dropped a topic message that is not UTF-8 on wslab:topic:chat.lobby"),
        (
            b"\xff{not a list}\nhello",
            "! dropped a malformed topic message on wslab:topic:chat.lobby: a topic message's"
            " skipped connections are not a list of ids",
        ),
    ],
    ids=["not UTF-8", "malformed skip prefix"],
)
async def test_a_topic_message_that_is_not_utf8_or_malformed_is_dropped_with_a_warning(
    hub: Hub,
    service: FakeService,
    client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
    data: bytes,
    warning: str,
) -> None:
    connection = FakeConnection()
    link = await hub.open("chat", "/chat", "", connection.outbox)
    await service.command(GATEWAY, Subscribe(conn=link.id, topic="chat.lobby"))
    await wait_subscribers(client, topic_channel("chat.lobby"), 1)
    with caplog.at_level(logging.WARNING, logger="wslab.gateway"):
        await client.publish(topic_channel("chat.lobby"), data)
        await client.publish(topic_channel("chat.lobby"), "café")
        assert await connection.next() == text("café")
    assert connection.written == [text("café")]
    assert [record.getMessage() for record in caplog.records] == [warning]


# Conflated topics.


async def test_messages_of_a_conflated_topic_go_out_as_the_latest_of_its_channel(
    hub: Hub, service: FakeService, client: redis.Redis
) -> None:
    connection = FakeConnection()
    outbox = connection.outbox
    link = await hub.open("chat", "/chat", "", outbox)
    quotes, lobby = topic_channel("quotes.MSFT"), topic_channel("chat.lobby")
    await service.command(GATEWAY, Subscribe(conn=link.id, topic="quotes.MSFT", conflate=True))
    await service.command(GATEWAY, Subscribe(conn=link.id, topic="chat.lobby"))
    await wait_subscribers(client, quotes, 1)
    await wait_subscribers(client, lobby, 1)
    assert outbox.conflated == {quotes}

    # While the client keeps up, every quote goes out.
    assert await client.publish(quotes, "MSFT 27.91") == 1
    assert await connection.next() == text("MSFT 27.91")

    # While it is slow, only the latest quote is kept; the other messages still go out.
    before = sample("wslab_conflated_messages_total")
    outbox.pause()
    for price in ("27.92", "27.93"):
        assert await client.publish(quotes, f"MSFT {price}") == 1
    assert await client.publish(lobby, "hello lobby") == 1
    assert await connection.next() == text("hello lobby")
    await service.command(GATEWAY, Send(conn=link.id, payload="a reply"))
    assert await connection.next() == text("a reply")
    assert list(outbox.held) == [quotes]
    assert outbox.held[quotes].payload == b"MSFT 27.93"
    assert sample("wslab_conflated_messages_total") == before + 1

    # Once it catches up, the latest quote goes out.
    outbox.resume()
    assert await connection.next() == text("MSFT 27.93")
    assert outbox.held == {}
    assert connection.written == [
        text(message) for message in ("MSFT 27.91", "hello lobby", "a reply", "MSFT 27.93")
    ]


async def test_subscribing_again_without_conflate_sends_every_message(
    hub: Hub, service: FakeService, client: redis.Redis
) -> None:
    connection = FakeConnection()
    outbox = connection.outbox
    link = await hub.open("chat", "/chat", "", outbox)
    quotes = topic_channel("quotes.MSFT")
    await service.command(GATEWAY, Subscribe(conn=link.id, topic="quotes.MSFT", conflate=True))
    await service.command(GATEWAY, Subscribe(conn=link.id, topic="quotes.MSFT"))
    await wait_subscribers(client, quotes, 1)
    await service.command(GATEWAY, Send(conn=link.id, payload="marker"))
    assert await connection.next() == text("marker")
    assert outbox.conflated == set()

    outbox.pause()  # Even while the client is slow.
    for price in ("27.91", "27.92"):
        assert await client.publish(quotes, f"MSFT {price}") == 1
    assert await connection.next() == text("MSFT 27.91")
    assert await connection.next() == text("MSFT 27.92")
    assert outbox.held == {}


async def test_subscribing_again_to_a_conflated_topic_drops_its_held_message(
    hub: Hub, service: FakeService, client: redis.Redis
) -> None:
    # A quote held for a slow client is older than the snapshot sent before a new Subscribe.
    connection = FakeConnection()
    outbox = connection.outbox
    link = await hub.open("chat", "/chat", "", outbox)
    quotes = topic_channel("quotes.MSFT")
    await service.command(GATEWAY, Subscribe(conn=link.id, topic="quotes.MSFT", conflate=True))
    await wait_subscribers(client, quotes, 1)
    outbox.pause()
    assert await client.publish(quotes, "MSFT 27.91") == 1
    await service.command(GATEWAY, Send(conn=link.id, payload="marker"))
    assert await connection.next() == text("marker")
    assert list(outbox.held) == [quotes]

    await service.command(GATEWAY, Subscribe(conn=link.id, topic="quotes.MSFT", conflate=True))
    await service.command(GATEWAY, Send(conn=link.id, payload="subscribed again"))
    assert await connection.next() == text("subscribed again")
    assert outbox.held == {}
    assert outbox.conflated == {quotes}
    outbox.resume()
    assert connection.written == [text("marker"), text("subscribed again")]


async def test_unsubscribing_from_a_conflated_topic_drops_its_held_message(
    hub: Hub, service: FakeService, client: redis.Redis
) -> None:
    connection = FakeConnection()
    outbox = connection.outbox
    link = await hub.open("chat", "/chat", "", outbox)
    quotes = topic_channel("quotes.MSFT")
    for topic, conflate in (("quotes.MSFT", True), ("chat.lobby", False)):
        await service.command(GATEWAY, Subscribe(conn=link.id, topic=topic, conflate=conflate))
    await wait_subscribers(client, quotes, 1)
    outbox.pause()
    assert await client.publish(quotes, "MSFT 27.91") == 1
    await service.command(GATEWAY, Send(conn=link.id, payload="marker"))
    assert await connection.next() == text("marker")
    assert list(outbox.held) == [quotes]

    for topic in ("quotes.MSFT", "chat.lobby"):
        await service.command(GATEWAY, Unsubscribe(conn=link.id, topic=topic))
    await service.command(GATEWAY, Send(conn=link.id, payload="unsubscribed"))
    assert await connection.next() == text("unsubscribed")
    assert outbox.held == {}
    assert link.channels == outbox.conflated == set()
    outbox.resume()
    assert connection.written == [text("marker"), text("unsubscribed")]


async def subscribed(
    hub: Hub, service: FakeService, client: redis.Redis, conflate: bool, count: int = 1
) -> list[FakeConnection]:
    """``count`` connections subscribed to quotes.MSFT, conflated or not."""
    connections = [FakeConnection() for _ in range(count)]
    for connection in connections:
        link = await hub.open("chat", "/chat", "", connection.outbox)
        await service.command(
            GATEWAY, Subscribe(conn=link.id, topic="quotes.MSFT", conflate=conflate)
        )
        await service.command(GATEWAY, Send(conn=link.id, payload="subscribed"))
        assert await connection.next() == text("subscribed")
    await wait_subscribers(client, topic_channel("quotes.MSFT"), 1)
    return connections


async def test_a_gateway_keeping_up_sends_every_message_of_a_conflated_topic(
    hub: Hub, service: FakeService, client: redis.Redis
) -> None:
    [connection] = await subscribed(hub, service, client, conflate=True)
    quotes = topic_channel("quotes.MSFT")
    for price in ("27.91", "27.92", "27.93"):  # In one turn, but fewer than behind_after.
        await hub._on_bus_message(quotes, f"MSFT {price}".encode())
    assert connection.written == [text("subscribed")] + [
        text(f"MSFT {price}") for price in ("27.91", "27.92", "27.93")
    ]


async def test_a_gateway_behind_the_bus_sends_a_conflated_topic_s_latest_message_only(
    service: FakeService, client: redis.Redis
) -> None:
    # A gateway that falls behind reads many messages in one turn, as here.
    async with running_hub(client, behind_after=1) as hub:
        [first, second] = await subscribed(hub, service, client, conflate=True, count=2)
        quotes = topic_channel("quotes.MSFT")
        before = sample("wslab_conflated_messages_total")
        for price in ("27.91", "27.92", "27.93"):
            await hub._on_bus_message(quotes, f"MSFT {price}".encode())
        # The first at once; past behind_after, the latest at the end of the turn.
        assert first.written == second.written == [text("subscribed"), text("MSFT 27.91")]
        await asyncio.sleep(0)
        assert (
            first.written
            == second.written
            == [
                text("subscribed"),
                text("MSFT 27.91"),
                text("MSFT 27.93"),
            ]
        )
        assert sample("wslab_conflated_messages_total") == before + 2  # 27.92, twice.


async def test_a_gateway_behind_the_bus_sends_every_message_of_a_topic_taken_unconflated(
    service: FakeService, client: redis.Redis
) -> None:
    async with running_hub(client, behind_after=0) as hub:
        [conflating] = await subscribed(hub, service, client, conflate=True)
        [strict] = await subscribed(hub, service, client, conflate=False)
        quotes = topic_channel("quotes.MSFT")
        for price in ("27.91", "27.92"):
            await hub._on_bus_message(quotes, f"MSFT {price}".encode())
        expected = [text("subscribed"), text("MSFT 27.91"), text("MSFT 27.92")]
        assert conflating.written == strict.written == expected


async def test_a_latest_message_goes_only_to_those_subscribed_when_it_came_and_still_are(
    service: FakeService, client: redis.Redis
) -> None:
    async with running_hub(client, behind_after=0) as hub:
        [staying, leaving] = await subscribed(hub, service, client, conflate=True, count=2)
        late = FakeConnection()
        late_link = await hub.open("chat", "/chat", "", late.outbox)
        quotes = topic_channel("quotes.MSFT")
        # In one turn (the channel has subscribers: nothing here waits for Redis):
        await hub._on_bus_message(quotes, b"MSFT 27.91")
        await hub._subscribe(late_link, quotes, True)  # After the quote came.
        await hub._unsubscribe(hub.links[f"{GATEWAY}.2"], quotes)  # Before it went out.
        await asyncio.sleep(0)
        assert staying.written == [text("subscribed"), text("MSFT 27.91")]
        assert leaving.written == [text("subscribed")]
        assert late.written == []


async def test_a_latest_message_held_while_behind_still_skips_the_connections_it_names(
    service: FakeService, client: redis.Redis
) -> None:
    async with running_hub(client, behind_after=0) as hub:
        [skipped, other] = await subscribed(hub, service, client, conflate=True, count=2)
        quotes = topic_channel("quotes.MSFT")
        await hub._on_bus_message(quotes, skipping([f"{GATEWAY}.1"]) + b"MSFT 27.91")
        await asyncio.sleep(0)
        assert other.written == [text("subscribed"), text("MSFT 27.91")]
        assert skipped.written == [text("subscribed")]


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
    hub = Hub(client, GATEWAY, SERVICES, ready_timeout=HANG)
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


async def test_a_burst_of_a_thousand_opens_messages_and_closes_reaches_the_service_whole(
    hub: Hub, service: FakeService
) -> None:
    # Each publish once took a connection of redis-py's pool, capped at 100: most of a
    # burst like this failed with bus_down while Redis was healthy.
    connections = [FakeConnection() for _ in range(1_000)]
    links = await asyncio.gather(
        *(hub.open("chat", "/chat", "", connection.outbox) for connection in connections)
    )
    await asyncio.gather(*(hub.forward(link, "hello", time.time()) for link in links))
    await asyncio.gather(*(hub.close(link) for link in links))
    kinds: dict[str, list[str]] = {}
    for _ in range(3 * len(links)):
        envelope = await service.next_envelope()
        kinds.setdefault(envelope.conn, []).append(envelope.kind)
    assert kinds == {link.id: ["open", "message", "close"] for link in links}
    assert all(connection.written == [] for connection in connections)


async def test_a_close_no_service_received_is_published_again_until_one_does(
    client: redis.Redis,
) -> None:
    # The alive key is set, and closes retried, every 0.1 s.
    async with running_hub(client, alive_ttl=0.3) as hub:
        connection = FakeConnection()
        link = await hub.open("late", "/late", "", connection.outbox)
        await hub.close(link)  # The late service does not run yet: nobody hears of it.
        async with FakeService(client, "late") as service:
            envelope = await service.next_envelope()
    assert (envelope.kind, envelope.conn) == ("close", link.id)


async def test_an_overloaded_hub_refuses_messages_with_overloaded_and_says_it_is(
    client: redis.Redis, service: FakeService
) -> None:
    async with running_hub(client, max_waiting=4) as hub:
        connection = FakeConnection()
        link = await hub.open("chat", "/chat", "", connection.outbox)
        await service.next_envelope()
        # Four wait in the same turn; two more are refused at once.
        await asyncio.gather(*(hub.forward(link, f"line {n}", time.time()) for n in range(6)))
        refused = [decode_json(frames) for frames in connection.written]
        assert [error["code"] for error in refused] == ["overloaded", "overloaded"]
        assert [(await service.next_envelope()).payload for _ in range(4)] == [
            f"line {n}" for n in range(4)
        ]


async def test_a_service_far_behind_gets_no_more_messages_and_its_clients_are_told(
    client: redis.Redis, service: FakeService
) -> None:
    async with running_hub(client, max_backlog=3) as hub:
        connection = FakeConnection()
        link = await hub.open("chat", "/chat", "", connection.outbox)
        for n in range(3):  # The service reads them, but has not handled them: they stay.
            await hub.forward(link, f"line {n}", time.time())
        assert [decode_json(frames) for frames in connection.written] == [
            {
                "type": "error",
                "code": "overloaded",
                "message": "the chat service is too far behind; your message was not delivered",
            }
        ]
        assert await client.xlen(service.stream) == 3


async def test_a_hub_is_overloaded_from_half_its_waiting_envelopes(client: redis.Redis) -> None:
    hub = Hub(client, GATEWAY, SERVICES, ready_timeout=HANG, max_waiting=4)
    waiting = [hub.publisher.publish("nobody", "x")]
    assert not hub.overloaded
    waiting.append(hub.publisher.publish("nobody", "x"))
    assert hub.overloaded
    await asyncio.gather(*waiting)
    assert not hub.overloaded
    await hub.publisher.aclose()
