"""The chat service against a real Redis, with the test playing the gateway."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from redis.asyncio import Redis

import bus
from servicekit import Service
from tests.servicekit.fake_gateway import FakeGateway
from tests.waiting import until

pytestmark = pytest.mark.usefixtures("chat")


def event(kind: str, nick: str, seq: int, **fields: Any) -> dict[str, Any]:
    """What a room event must be, but for its timestamp."""
    return {"type": kind, "room": "lobby", "nick": nick, **fields, "seq": seq}


def without_ts(message: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(message.pop("ts"), float)
    return message


async def join(
    gateway: FakeGateway, conn: str, nick: str, seq: int, query: str = ""
) -> list[dict[str, Any]]:
    """Open ``conn`` as ``nick`` and check what the service does; return the history."""
    await gateway.open(conn, query=f"nick={nick}" + (query and "&" + query), path="/chat")
    assert await gateway.reply(conn) == {"type": "welcome", "nick": nick, "room": "lobby"}
    assert await gateway.next() == bus.Subscribe(conn=conn, topic="chat.lobby")
    assert without_ts(await gateway.published("chat.lobby")) == event("join", nick, seq)
    history = await gateway.reply(conn)
    assert list(history) == ["type", "room", "events"]
    assert (history["type"], history["room"]) == ("history", "lobby")
    members = await gateway.reply(conn)
    assert (members["type"], members["room"]) == ("members", "lobby")
    assert nick in members["members"]
    events: list[dict[str, Any]] = history["events"]
    return events


async def test_opening_sends_welcome_subscribes_announces_the_join_then_sends_the_history(
    gateway: FakeGateway,
) -> None:
    await gateway.open("gw-test.1", query="nick=alice", path="/chat")
    assert await gateway.reply("gw-test.1") == {"type": "welcome", "nick": "alice", "room": "lobby"}
    assert await gateway.next() == bus.Subscribe(conn="gw-test.1", topic="chat.lobby")
    joined = await gateway.published("chat.lobby")
    assert list(joined) == ["type", "room", "nick", "seq", "ts"]
    assert await gateway.reply("gw-test.1") == {
        "type": "history",
        "room": "lobby",
        "events": [joined],
    }
    assert without_ts(joined) == event("join", "alice", 1)
    assert await gateway.reply("gw-test.1") == {
        "type": "members",
        "room": "lobby",
        "members": ["alice"],
    }


async def test_saying_publishes_a_message_with_the_nick_and_the_next_seq(
    gateway: FakeGateway,
) -> None:
    await join(gateway, "gw-test.1", "alice", seq=1)
    await gateway.message("gw-test.1", '{"type": "say", "text": "hello", "room": "lobby"}')
    message = await gateway.said("gw-test.1", "chat.lobby")
    assert list(message) == ["type", "room", "nick", "text", "seq", "ts"]
    assert without_ts(message) == event("message", "alice", 2, text="hello")
    await gateway.message("gw-test.1", '{"type": "say", "text": "again"}')
    assert without_ts(await gateway.said("gw-test.1", "chat.lobby")) == event(
        "message", "alice", 3, text="again"
    )


async def test_a_bare_line_is_said_as_it_is(gateway: FakeGateway) -> None:
    await join(gateway, "gw-test.1", "alice", seq=1)
    for seq, line in enumerate(["hello everyone", "[1, 2]", " {oops"], start=2):
        await gateway.message("gw-test.1", line)
        assert without_ts(await gateway.said("gw-test.1", "chat.lobby")) == event(
            "message", "alice", seq, text=line
        )


async def test_every_room_event_takes_the_next_seq(gateway: FakeGateway) -> None:
    await join(gateway, "gw-test.1", "alice", seq=1)
    await join(gateway, "gw-test.2", "bob", seq=2)
    await gateway.message("gw-test.2", "hi alice")
    assert without_ts(await gateway.said("gw-test.2", "chat.lobby")) == event(
        "message", "bob", 3, text="hi alice"
    )
    await gateway.close("gw-test.2")
    assert without_ts(await gateway.published("chat.lobby")) == event("leave", "bob", 4)
    await gateway.message("gw-test.1", "bye bob")
    assert without_ts(await gateway.said("gw-test.1", "chat.lobby")) == event(
        "message", "alice", 5, text="bye bob"
    )


async def test_seq_continues_from_the_counter_in_redis(
    gateway: FakeGateway, redis_url: str
) -> None:
    async with Redis.from_url(redis_url) as client:
        await client.set("wslab:chat:lobby:seq", 41)
    await join(gateway, "gw-test.1", "alice", seq=42)
    async with Redis.from_url(redis_url) as client:
        assert await client.get("wslab:chat:lobby:seq") == b"42"


@pytest.mark.parametrize("query", ["", "nick=", "nick=alice+smith", "nick=" + "x" * 33, "a=b"])
async def test_without_a_valid_nick_the_client_is_a_guest(gateway: FakeGateway, query: str) -> None:
    await gateway.open("gw-test.1", query=query)
    welcome = await gateway.reply("gw-test.1")
    assert re.fullmatch(r"guest-[0-9a-f]{4}", welcome["nick"])
    assert await gateway.next() == bus.Subscribe(conn="gw-test.1", topic="chat.lobby")
    assert without_ts(await gateway.published("chat.lobby")) == event("join", welcome["nick"], 1)
    assert (await gateway.reply("gw-test.1"))["type"] == "history"
    assert (await gateway.reply("gw-test.1"))["type"] == "members"
    await gateway.message("gw-test.1", "hi")
    assert without_ts(await gateway.said("gw-test.1", "chat.lobby")) == event(
        "message", welcome["nick"], 2, text="hi"
    )


@pytest.mark.parametrize(
    ("payload", "code", "message"),
    [
        ('{"type": "shout", "text": "hi"}', "bad_request", "unknown type 'shout'"),
        ('{"type": "say"}', "bad_request", "say needs a text string"),
        (
            '{"type": "say", "text": "hi", "room": "attic"}',
            "not_member",
            "you are not in 'attic'; join it first",
        ),
        ("{oops", "bad_json", "this is not valid JSON"),
    ],
)
async def test_an_invalid_message_gets_an_error_to_that_client_only(
    gateway: FakeGateway, payload: str, code: str, message: str
) -> None:
    await join(gateway, "gw-test.1", "alice", seq=1)
    await gateway.message("gw-test.1", payload)
    assert await gateway.reply("gw-test.1") == {
        "type": "error",
        "code": code,
        "message": message,
    }
    await gateway.message("gw-test.1", "still here")  # Nothing was published meanwhile.
    assert without_ts(await gateway.said("gw-test.1", "chat.lobby")) == event(
        "message", "alice", 2, text="still here"
    )


async def test_a_closed_connection_is_forgotten(gateway: FakeGateway) -> None:
    await join(gateway, "gw-test.1", "alice", seq=1)
    assert await gateway.redis.hkeys("wslab:chat:lobby:members") == [b"alice"]
    await gateway.close("gw-test.1")
    assert without_ts(await gateway.published("chat.lobby")) == event("leave", "alice", 2)
    # Only the room's history and seq remain: no member, connection or gateway; the
    # records of the events its envelopes made expire.
    records = [
        b"wslab:chat:event:gw-test.1:0:join:lobby",
        b"wslab:chat:event:gw-test.1:1:leave:lobby",
    ]
    kept = sorted([b"wslab:chat:lobby:history", b"wslab:chat:lobby:seq", *records])

    async def forgotten() -> bool:  # The service forgets after announcing.
        return sorted(await gateway.redis.keys("wslab:chat:*")) == kept

    await until(forgotten, "the service to forget gw-test.1")
    assert all([await gateway.redis.ttl(key) > 0 for key in records])


def alice_says(payload: str, *, seq: int) -> bus.Envelope:
    """The envelope of gw-test.1's message number ``seq``, for the chat to handle directly."""
    return bus.Envelope(
        kind="message",
        conn="gw-test.1",
        seq=seq,
        gateway="gw-test",
        path="/chat",
        query="nick=alice",
        payload=payload,
        received_at=0,
        published_at=0,
    )


@pytest.mark.parametrize(
    ("said", "then"),
    [
        pytest.param("only once", "and then", id="first room"),
        # Said in a named room, a line takes the one-round-trip script; made once too.
        pytest.param(
            '{"type": "say", "text": "only once", "room": "lobby"}',
            '{"type": "say", "text": "and then", "room": "lobby"}',
            id="named room",
        ),
    ],
)
async def test_an_envelope_handled_twice_makes_its_room_event_once(
    chat: Service, gateway: FakeGateway, said: str, then: str
) -> None:
    # As when a replica dies handling it and the one taking over handles it again: each
    # replica handles it once, so it is handled here, twice, past the stream's reader.
    await join(gateway, "gw-test.1", "alice", seq=1)
    envelope = alice_says(said, seq=7)
    await chat.handle(envelope)
    await chat.handle(envelope)
    await gateway.message("gw-test.1", then)
    assert without_ts(await gateway.said("gw-test.1", "chat.lobby")) == event(
        "message", "alice", 2, text="only once"
    )
    assert without_ts(await gateway.said("gw-test.1", "chat.lobby")) == event(
        "message", "alice", 3, text="and then"
    )
    assert await gateway.redis.llen("wslab:chat:lobby:history") == 3


async def test_a_line_handled_again_after_its_speaker_left_is_neither_refused_nor_said_again(
    chat: Service, gateway: FakeGateway
) -> None:
    # A replica took the connection over and handles its line again, after its leave.
    await join(gateway, "gw-test.1", "alice", seq=1)
    line = json.dumps({"type": "say", "room": "lobby", "text": "once"})
    await gateway.message("gw-test.1", line)
    assert without_ts(await gateway.said("gw-test.1", "chat.lobby")) == event(
        "message", "alice", 2, text="once"
    )
    await gateway.message("gw-test.1", json.dumps({"type": "leave", "room": "lobby"}))
    assert without_ts(await gateway.published("chat.lobby")) == event("leave", "alice", 3)
    assert await gateway.next() == bus.Unsubscribe(conn="gw-test.1", topic="chat.lobby")
    await chat.handle(alice_says(line, seq=1))  # Its first message.
    await gateway.message("gw-test.1", "marker")  # In no room now.
    assert await gateway.reply("gw-test.1") == {
        "type": "error",
        "code": "not_member",
        "message": "you are in no room; join one first",
    }
    assert await gateway.redis.llen("wslab:chat:lobby:history") == 3


async def test_a_connection_redis_no_longer_knows_rejoins_its_room_when_it_speaks(
    gateway: FakeGateway,
) -> None:
    # This connection opened before Redis lost its state (or its open was lost).
    await gateway.message("gw-test.1", "still here?", query="nick=alice")
    assert await gateway.next() == bus.Subscribe(conn="gw-test.1", topic="chat.lobby")
    assert without_ts(await gateway.published("chat.lobby")) == event("join", "alice", 1)
    assert (await gateway.reply("gw-test.1"))["type"] == "history"
    assert (await gateway.reply("gw-test.1"))["members"] == ["alice"]
    assert without_ts(await gateway.said("gw-test.1", "chat.lobby")) == event(
        "message", "alice", 2, text="still here?"
    )


async def test_an_unknown_connection_leaves_without_announcement(gateway: FakeGateway) -> None:
    await gateway.close("gw-test.1", query="nick=bob")
    await join(gateway, "gw-test.2", "bob", seq=1)


async def test_a_malformed_envelope_does_not_stop_the_chat(
    chat: Service, gateway: FakeGateway
) -> None:
    await gateway.append_raw("gw-test.9", b'{"v": 1, "kind": "open"}')
    await gateway.append_raw("gw-test.9", b"\x00garbage")
    await join(gateway, "gw-test.1", "alice", seq=1)


@pytest.mark.parametrize(
    "text",
    [
        "\x00nick\x00 and \\u0000nick\\u0000, \x00payload\x00",
        # The script spells the line out again, as a JSON string, for its speaker.
        '"a/b" caf\u00e9 \U0001f600\t\n\x7f',
        "a lone surrogate \ud800, sent escaped",
    ],
    ids=["placeholders", "escapes and Unicode", "lone surrogate"],
)
async def test_a_text_that_looks_like_json_escapes_or_placeholders_is_said_as_it_is(
    gateway: FakeGateway, text: str
) -> None:
    await join(gateway, "gw-test.1", "alice", seq=1)
    await gateway.message("gw-test.1", json.dumps({"type": "say", "text": text, "room": "lobby"}))
    assert without_ts(await gateway.said("gw-test.1", "chat.lobby")) == event(
        "message", "alice", 2, text=text
    )


async def test_a_connection_redis_no_longer_knows_rejoins_when_it_speaks_in_a_named_room(
    gateway: FakeGateway,
) -> None:
    payload = '{"type": "say", "text": "still here?", "room": "lobby"}'
    await gateway.message("gw-test.1", payload, query="nick=alice")
    assert await gateway.next() == bus.Subscribe(conn="gw-test.1", topic="chat.lobby")
    assert without_ts(await gateway.published("chat.lobby")) == event("join", "alice", 1)
    assert (await gateway.reply("gw-test.1"))["type"] == "history"
    assert (await gateway.reply("gw-test.1"))["members"] == ["alice"]
    assert without_ts(await gateway.said("gw-test.1", "chat.lobby")) == event(
        "message", "alice", 2, text="still here?"
    )
