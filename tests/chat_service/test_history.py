"""The chat's history and resume-by-seq, against a real Redis, the test playing the gateway."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

import bus
from chat_service import ChatHandlers, ChatSettings
from chat_service.service import DEFAULT_ROOM_TTL
from servicekit import Service
from tests.chat_service.test_rooms import connect, send
from tests.chat_service.test_service import event, join, without_ts
from tests.servicekit.fake_gateway import FakeGateway, running
from tests.waiting import until

HISTORY = 5


@contextlib.asynccontextmanager
async def chat_service(redis_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    """Run a chat service keeping ``HISTORY`` events per room, until the block ends."""
    settings = ChatSettings(
        redis_url=redis_url, health_file=str(tmp_path / "healthy"), history=HISTORY
    )
    service = Service("chat", ChatHandlers(history=settings.history), settings)
    async with running(service):
        yield service


@pytest.fixture
async def chat(redis_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    async with chat_service(redis_url, tmp_path) as service:
        yield service


pytestmark = pytest.mark.usefixtures("chat")


async def say(gateway: FakeGateway, conn: str, text: str) -> dict[str, Any]:
    """Say ``text`` on ``conn``; return the message as the room received it."""
    await gateway.message(conn, text)
    message: dict[str, Any] = await gateway.said(conn, "chat.lobby")
    assert (message["type"], message["text"]) == ("message", text)
    return message


async def ask(gateway: FakeGateway, conn: str, since: int | None = None) -> Any:
    """Send a history request on ``conn``."""
    request: dict[str, Any] = {"type": "history", "room": "lobby"}
    if since is not None:
        request["since"] = since
    await gateway.message(conn, json.dumps(request))
    return await gateway.reply(conn)


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [event["seq"] for event in events]


async def test_a_client_that_joins_gets_the_earlier_events_in_seq_order(
    gateway: FakeGateway,
) -> None:
    await join(gateway, "gw-test.1", "alice", seq=1)
    said = [await say(gateway, "gw-test.1", text) for text in ("one", "two")]
    events = await join(gateway, "gw-test.2", "bob", seq=4)
    assert seqs(events) == [1, 2, 3, 4]
    assert events[1:3] == said  # Exactly as published, ts included.
    assert without_ts(events[0]) == event("join", "alice", 1)
    assert without_ts(events[3]) == event("join", "bob", 4)


async def test_history_keeps_only_the_last_events(gateway: FakeGateway, redis_url: str) -> None:
    await join(gateway, "gw-test.1", "alice", seq=1)
    for n in range(2, 9):
        await say(gateway, "gw-test.1", f"line {n}")
    events = await join(gateway, "gw-test.2", "bob", seq=9)
    assert seqs(events) == [5, 6, 7, 8, 9]
    async with Redis.from_url(redis_url) as client:
        assert await client.llen("wslab:chat:lobby:history") == HISTORY


async def test_a_client_reconnecting_with_since_gets_exactly_the_events_it_missed(
    gateway: FakeGateway,
) -> None:
    await join(gateway, "gw-test.1", "alice", seq=1)
    await join(gateway, "gw-test.2", "bob", seq=2)
    await gateway.close("gw-test.2")
    assert without_ts(await gateway.published("chat.lobby")) == event("leave", "bob", 3)
    missed = [await say(gateway, "gw-test.1", "are you there?")]
    events = await join(gateway, "gw-test.3", "bob", seq=5, query="since=3")
    assert events[:1] == missed
    assert seqs(events) == [4, 5]


async def test_a_since_older_than_the_history_gets_a_resync_then_the_kept_events(
    gateway: FakeGateway,
) -> None:
    await join(gateway, "gw-test.1", "alice", seq=1)
    for n in range(2, 9):
        await say(gateway, "gw-test.1", f"line {n}")
    await gateway.open("gw-test.2", query="nick=bob&since=2", path="/chat")
    assert (await gateway.reply("gw-test.2"))["type"] == "welcome"
    assert await gateway.next() == bus.Subscribe(conn="gw-test.2", topic="chat.lobby")
    assert without_ts(await gateway.published("chat.lobby")) == event("join", "bob", 9)
    assert await gateway.reply("gw-test.2") == {"type": "resync", "room": "lobby", "from": 5}
    history = await gateway.reply("gw-test.2")
    assert seqs(history["events"]) == [5, 6, 7, 8, 9]


async def test_a_since_just_before_the_oldest_kept_event_needs_no_resync(
    gateway: FakeGateway,
) -> None:
    await join(gateway, "gw-test.1", "alice", seq=1)
    for n in range(2, 8):
        await say(gateway, "gw-test.1", f"line {n}")
    assert seqs((await ask(gateway, "gw-test.1", since=2))["events"]) == [3, 4, 5, 6, 7]
    assert await ask(gateway, "gw-test.1", since=1) == {
        "type": "resync",
        "room": "lobby",
        "from": 3,
    }
    assert seqs((await gateway.reply("gw-test.1"))["events"]) == [3, 4, 5, 6, 7]


async def test_a_client_may_ask_for_the_history_at_any_time(gateway: FakeGateway) -> None:
    await join(gateway, "gw-test.1", "alice", seq=1)
    said = [await say(gateway, "gw-test.1", text) for text in ("one", "two", "three")]
    assert await ask(gateway, "gw-test.1", since=2) == {
        "type": "history",
        "room": "lobby",
        "events": said[1:],
    }
    assert seqs((await ask(gateway, "gw-test.1"))["events"]) == [1, 2, 3, 4]


async def test_a_client_that_is_up_to_date_gets_an_empty_history(gateway: FakeGateway) -> None:
    await join(gateway, "gw-test.1", "alice", seq=1)
    await say(gateway, "gw-test.1", "one")
    assert await ask(gateway, "gw-test.1", since=2) == {
        "type": "history",
        "room": "lobby",
        "events": [],
    }
    assert (await ask(gateway, "gw-test.1", since=1000))["events"] == []


async def test_seq_stays_consecutive_across_joins_messages_and_leaves(
    gateway: FakeGateway,
) -> None:
    await join(gateway, "gw-test.1", "alice", seq=1)
    await join(gateway, "gw-test.2", "bob", seq=2)
    published = []
    await gateway.message("gw-test.2", "hi")
    published.append(await gateway.said("gw-test.2", "chat.lobby"))
    await gateway.close("gw-test.2")
    published.append(await gateway.published("chat.lobby"))
    await gateway.message("gw-test.1", "bye")
    published.append(await gateway.said("gw-test.1", "chat.lobby"))
    assert seqs(published) == [3, 4, 5]
    history = await ask(gateway, "gw-test.1", since=0)
    assert seqs(history["events"]) == [1, 2, 3, 4, 5]
    assert history["events"][2:] == published


async def test_the_history_survives_a_restart_of_the_service(
    gateway: FakeGateway, chat: Service, redis_url: str, tmp_path: Path
) -> None:
    await join(gateway, "gw-test.1", "alice", seq=1)
    said = await say(gateway, "gw-test.1", "before the restart")
    chat.stop()

    async def stopped() -> bool:  # It no longer reads the chat's channel.
        return (await gateway.redis.pubsub_numsub("wslab:svc:chat"))[0][1] == 0

    await until(stopped, "the chat service to stop reading its channel")
    async with chat_service(redis_url, tmp_path / "second"):
        events = await join(gateway, "gw-test.2", "bob", seq=3, query="since=1")
        assert events[0] == said
        assert seqs(events) == [2, 3]
        await say(gateway, "gw-test.2", "after the restart")
        assert seqs((await ask(gateway, "gw-test.2"))["events"]) == [1, 2, 3, 4]


@pytest.mark.parametrize("since", ["-1", "abc", "", "1.5", "+2"])
async def test_an_invalid_since_in_the_query_gets_an_error_and_the_last_events(
    gateway: FakeGateway, since: str
) -> None:
    await join(gateway, "gw-test.1", "alice", seq=1)
    await gateway.open("gw-test.2", query=f"nick=bob&since={since}", path="/chat")
    assert (await gateway.reply("gw-test.2"))["type"] == "welcome"
    assert await gateway.next() == bus.Subscribe(conn="gw-test.2", topic="chat.lobby")
    assert without_ts(await gateway.published("chat.lobby")) == event("join", "bob", 2)
    assert await gateway.reply("gw-test.2") == {
        "type": "error",
        "code": "bad_request",
        "message": "since must be a non-negative integer",
    }
    assert seqs((await gateway.reply("gw-test.2"))["events"]) == [1, 2]


@pytest.mark.parametrize("since", ["-1", '"3"', "1.5", "true", "null"])
async def test_an_invalid_since_in_a_history_request_gets_an_error(
    gateway: FakeGateway, since: str
) -> None:
    await join(gateway, "gw-test.1", "alice", seq=1)
    await gateway.message("gw-test.1", f'{{"type": "history", "room": "lobby", "since": {since}}}')
    assert await gateway.reply("gw-test.1") == {
        "type": "error",
        "code": "bad_request",
        "message": "since must be a non-negative integer",
    }


async def test_a_history_request_for_a_room_one_is_not_in_gets_not_member(
    gateway: FakeGateway,
) -> None:
    await join(gateway, "gw-test.1", "alice", seq=1)
    await gateway.message("gw-test.1", '{"type": "history", "room": "attic", "since": 0}')
    assert await gateway.reply("gw-test.1") == {
        "type": "error",
        "code": "not_member",
        "message": "you are not in 'attic'; join it first",
    }


@pytest.mark.usefixtures("chat")
async def test_a_room_s_history_and_seq_expire_after_its_last_event(gateway: FakeGateway) -> None:
    await connect(gateway, "gw-test.1", "alice")
    await send(gateway, "gw-test.1", type="say", text="hello")
    await gateway.said("gw-test.1", "chat.lobby")
    for key in ("wslab:chat:lobby:seq", "wslab:chat:lobby:history"):
        ttl = await gateway.redis.ttl(key)
        assert 0 < ttl <= DEFAULT_ROOM_TTL, (key, ttl)
