"""Rooms, members, private messages and presence, against a real Redis playing the gateway."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import bus
from bus import gateway_alive_key as alive_key
from chat_service import ChatHandlers, ChatSettings
from servicekit import Service
from tests.chat_service.test_service import without_ts
from tests.servicekit.fake_gateway import FakeGateway, running
from tests.waiting import until


async def connect(gateway: FakeGateway, conn: str, nick: str, room: str = "lobby") -> list[str]:
    """Open ``conn`` as ``nick`` in ``room``, check each step; return the room's members."""
    query = f"nick={nick}" + ("" if room == "lobby" else f"&room={room}")
    await gateway.open(conn, query=query, path="/chat")
    assert await gateway.reply(conn) == {"type": "welcome", "nick": nick, "room": room}
    return await joined(gateway, conn, nick, room)


async def joined(gateway: FakeGateway, conn: str, nick: str, room: str) -> list[str]:
    """Check the steps of joining ``room``; return its members."""
    assert await gateway.next() == bus.Subscribe(conn=conn, topic=f"chat.{room}")
    join = await gateway.published(f"chat.{room}")
    assert (join["type"], join["room"], join["nick"]) == ("join", room, nick)
    history = await gateway.reply(conn)
    assert (history["type"], history["room"], history["events"][-1]) == ("history", room, join)
    members = await gateway.reply(conn)
    assert list(members) == ["type", "room", "members"]
    assert (members["type"], members["room"]) == ("members", room)
    nicks: list[str] = members["members"]
    return nicks


async def send(gateway: FakeGateway, conn: str, **message: Any) -> None:
    await gateway.message(conn, json.dumps(message))


async def join_room(gateway: FakeGateway, conn: str, nick: str, room: str) -> list[str]:
    await send(gateway, conn, type="join", room=room)
    return await joined(gateway, conn, nick, room)


async def rooms(gateway: FakeGateway, conn: str) -> list[dict[str, Any]]:
    await send(gateway, conn, type="rooms")
    reply = await gateway.reply(conn)
    assert reply["type"] == "rooms"
    listed: list[dict[str, Any]] = reply["rooms"]
    return listed


def error(code: str, message: str) -> dict[str, str]:
    return {"type": "error", "code": code, "message": message}


async def eventually_members(gateway: FakeGateway, room: str, nicks: list[bytes]) -> None:
    """Wait until the room's members in Redis are ``nicks``."""

    async def members_are() -> bool:
        return sorted(await gateway.redis.hkeys(f"wslab:chat:{room}:members")) == nicks

    await until(members_are, f"the members of {room} to be {nicks}")


@pytest.fixture
async def gateway(gateway: FakeGateway) -> FakeGateway:
    """The lobby's gateway, listening to the room ``dev`` too."""
    await gateway.listen("chat.dev")
    return gateway


@pytest.mark.usefixtures("chat")
async def test_the_members_message_lists_everyone_in_the_room_sorted(
    gateway: FakeGateway,
) -> None:
    assert await connect(gateway, "gw-test.1", "carol") == ["carol"]
    assert await connect(gateway, "gw-test.2", "alice") == ["alice", "carol"]
    assert await connect(gateway, "gw-test.3", "bob") == ["alice", "bob", "carol"]


@pytest.mark.usefixtures("chat")
async def test_a_client_may_connect_to_another_room_than_the_lobby(gateway: FakeGateway) -> None:
    assert await connect(gateway, "gw-test.1", "alice", room="dev") == ["alice"]
    await gateway.message("gw-test.1", "hello dev")  # A bare line goes to the first room.
    said = await gateway.said("gw-test.1", "chat.dev")
    assert (said["type"], said["nick"], said["text"], said["seq"]) == (
        "message",
        "alice",
        "hello dev",
        2,
    )


@pytest.mark.usefixtures("chat")
async def test_an_invalid_room_in_the_query_gets_an_error_and_the_lobby(
    gateway: FakeGateway,
) -> None:
    await gateway.open("gw-test.1", query="nick=alice&room=no%20spaces", path="/chat")
    assert await gateway.reply("gw-test.1") == {
        "type": "welcome",
        "nick": "alice",
        "room": "lobby",
    }
    assert await gateway.reply("gw-test.1") == error(
        "bad_request", "room names are 1 to 32 letters, digits, _ or -"
    )
    assert await joined(gateway, "gw-test.1", "alice", "lobby") == ["alice"]


@pytest.mark.usefixtures("chat")
async def test_a_connection_may_be_in_several_rooms_and_say_things_in_each(
    gateway: FakeGateway,
) -> None:
    await connect(gateway, "gw-test.1", "alice")
    assert await join_room(gateway, "gw-test.1", "alice", "dev") == ["alice"]
    await send(gateway, "gw-test.1", type="say", room="dev", text="in dev")
    in_dev = without_ts(await gateway.said("gw-test.1", "chat.dev"))
    assert in_dev == {"type": "message", "room": "dev", "nick": "alice", "text": "in dev", "seq": 2}
    await send(gateway, "gw-test.1", type="say", text="in the first room")
    in_lobby = without_ts(await gateway.said("gw-test.1", "chat.lobby"))
    assert (in_lobby["room"], in_lobby["text"], in_lobby["seq"]) == (
        "lobby",
        "in the first room",
        2,
    )


@pytest.mark.usefixtures("chat")
async def test_rooms_lists_the_rooms_with_members_and_their_counts(
    gateway: FakeGateway,
) -> None:
    await connect(gateway, "gw-test.1", "alice")
    await connect(gateway, "gw-test.2", "bob")
    await join_room(gateway, "gw-test.1", "alice", "dev")
    assert await rooms(gateway, "gw-test.2") == [
        {"room": "dev", "members": 1},
        {"room": "lobby", "members": 2},
    ]


@pytest.mark.usefixtures("chat")
async def test_leaving_a_room_announces_it_and_unsubscribes(gateway: FakeGateway) -> None:
    await connect(gateway, "gw-test.1", "alice")
    await join_room(gateway, "gw-test.1", "alice", "dev")
    await send(gateway, "gw-test.1", type="leave", room="dev")
    leave = without_ts(await gateway.published("chat.dev"))
    assert leave == {"type": "leave", "room": "dev", "nick": "alice", "seq": 2}
    assert await gateway.next() == bus.Unsubscribe(conn="gw-test.1", topic="chat.dev")
    assert await rooms(gateway, "gw-test.1") == [{"room": "lobby", "members": 1}]
    await send(gateway, "gw-test.1", type="say", room="dev", text="still here?")
    assert await gateway.reply("gw-test.1") == error(
        "not_member", "you are not in 'dev'; join it first"
    )


@pytest.mark.usefixtures("chat")
async def test_leaving_a_room_one_is_not_in_gets_not_member(gateway: FakeGateway) -> None:
    await connect(gateway, "gw-test.1", "alice")
    await send(gateway, "gw-test.1", type="leave", room="dev")
    assert await gateway.reply("gw-test.1") == error("not_member", "you are not in 'dev'")


@pytest.mark.usefixtures("chat")
async def test_joining_a_room_one_is_already_in_gets_an_error(gateway: FakeGateway) -> None:
    await connect(gateway, "gw-test.1", "alice")
    await send(gateway, "gw-test.1", type="join", room="lobby")
    assert await gateway.reply("gw-test.1") == error("bad_request", "you are already in 'lobby'")


@pytest.mark.usefixtures("chat")
async def test_a_nick_taken_on_connecting_gets_welcome_and_an_error_and_no_room(
    gateway: FakeGateway,
) -> None:
    await connect(gateway, "gw-test.1", "alice")
    await gateway.open("gw-test.2", query="nick=alice", path="/chat")
    assert await gateway.reply("gw-test.2") == {
        "type": "welcome",
        "nick": "alice",
        "room": "lobby",
    }
    assert await gateway.reply("gw-test.2") == error("nick_taken", "someone else is called 'alice'")
    assert await rooms(gateway, "gw-test.2") == [{"room": "lobby", "members": 1}]
    await gateway.message("gw-test.2", "hello?")
    assert await gateway.reply("gw-test.2") == error(
        "not_member", "you are in no room; join one first"
    )


@pytest.mark.usefixtures("chat")
async def test_a_nick_is_one_connection_s_in_every_room_until_it_closes(
    gateway: FakeGateway,
) -> None:
    await connect(gateway, "gw-test.1", "alice", room="dev")
    await gateway.open("gw-test.2", query="nick=alice&room=ops", path="/chat")
    assert (await gateway.reply("gw-test.2"))["type"] == "welcome"
    taken = error("nick_taken", "someone else is called 'alice'")
    assert await gateway.reply("gw-test.2") == taken  # Another room: the same alice.
    await send(gateway, "gw-test.2", type="join", room="lobby")
    assert await gateway.reply("gw-test.2") == taken
    await send(gateway, "gw-test.1", type="leave", room="dev")
    assert (await gateway.published("chat.dev"))["type"] == "leave"
    assert await gateway.next() == bus.Unsubscribe(conn="gw-test.1", topic="chat.dev")
    await send(gateway, "gw-test.2", type="join", room="lobby")
    assert await gateway.reply("gw-test.2") == taken  # Held while its connection lives.
    await gateway.close("gw-test.1")

    async def freed() -> bool:
        return await gateway.redis.hget("wslab:chat:nicks", "alice") is None

    await until(freed, "alice's nickname to be free")
    assert await join_room(gateway, "gw-test.2", "alice", "lobby") == ["alice"]


@pytest.mark.usefixtures("chat")
async def test_a_token_holder_s_nick_is_reserved_against_anonymous_connections(
    gateway: FakeGateway,
) -> None:
    await gateway.open("gw-test.1", path="/chat", user="carol")
    assert (await gateway.reply("gw-test.1"))["nick"] == "carol"
    await joined(gateway, "gw-test.1", "carol", "lobby")
    await gateway.close("gw-test.1")
    assert (await gateway.published("chat.lobby"))["type"] == "leave"
    await gateway.open("gw-test.2", query="nick=carol", path="/chat")
    assert (await gateway.reply("gw-test.2"))["type"] == "welcome"
    reserved = error("nick_taken", "'carol' is reserved for its token's holder")
    assert await gateway.reply("gw-test.2") == reserved
    ttl = await gateway.redis.ttl("wslab:chat:nick:carol:reserved")
    assert 0 < ttl <= ChatSettings().room_ttl
    # The holder, back, gets it whatever the anonymous connection asked for.
    await gateway.open("gw-test.3", path="/chat", user="carol")
    assert (await gateway.reply("gw-test.3"))["nick"] == "carol"
    assert await joined(gateway, "gw-test.3", "carol", "lobby") == ["carol"]


@pytest.mark.usefixtures("chat")
async def test_a_private_message_reaches_its_recipient_and_echoes_to_the_sender(
    gateway: FakeGateway,
) -> None:
    await connect(gateway, "gw-test.1", "alice")
    await connect(gateway, "gw-test.2", "bob")
    await send(gateway, "gw-test.1", type="private", room="lobby", to="bob", text="psst")
    received = await gateway.reply("gw-test.2")
    assert list(received) == ["type", "room", "from", "to", "text", "ts"]
    assert without_ts(dict(received)) == {
        "type": "private",
        "room": "lobby",
        "from": "alice",
        "to": "bob",
        "text": "psst",
    }
    assert await gateway.reply("gw-test.1") == received  # The same, ts included.


@pytest.mark.usefixtures("chat")
async def test_a_private_message_to_someone_not_in_the_room_gets_no_such_member(
    gateway: FakeGateway,
) -> None:
    await connect(gateway, "gw-test.1", "alice")
    await connect(gateway, "gw-test.2", "bob", room="dev")
    await send(gateway, "gw-test.1", type="private", to="bob", text="psst")
    assert await gateway.reply("gw-test.1") == error(
        "no_such_member", "nobody is called 'bob' in 'lobby'"
    )
    await send(gateway, "gw-test.1", type="private", room="dev", to="bob", text="psst")
    assert await gateway.reply("gw-test.1") == error(
        "not_member", "you are not in 'dev'; join it first"
    )


@pytest.mark.usefixtures("chat")
async def test_closing_leaves_every_room_the_connection_is_in(gateway: FakeGateway) -> None:
    await connect(gateway, "gw-test.1", "alice")
    await join_room(gateway, "gw-test.1", "alice", "dev")
    await connect(gateway, "gw-test.2", "bob")
    await gateway.close("gw-test.1")
    left = [without_ts(await gateway.published(topic)) for topic in ("chat.lobby", "chat.dev")]
    assert left == [
        {"type": "leave", "room": "lobby", "nick": "alice", "seq": 3},
        {"type": "leave", "room": "dev", "nick": "alice", "seq": 2},
    ]
    # Free by the time anyone hears a leave: whoever heard it may take the nickname.
    assert await gateway.redis.hget("wslab:chat:nicks", "alice") is None
    await eventually_members(gateway, "dev", [])
    assert await rooms(gateway, "gw-test.2") == [{"room": "lobby", "members": 1}]


async def test_a_second_chat_service_sees_the_same_membership(
    gateway: FakeGateway, redis_url: str, tmp_path: Path
) -> None:
    settings = ChatSettings(redis_url=redis_url, health_file=str(tmp_path / "healthy"))
    async with running(Service("chat", ChatHandlers(), settings)):
        await connect(gateway, "gw-test.1", "alice")
        await join_room(gateway, "gw-test.1", "alice", "dev")
    async with running(Service("chat", ChatHandlers(), settings)):
        await gateway.open("gw-test.2", query="nick=alice", path="/chat")
        assert (await gateway.reply("gw-test.2"))["type"] == "welcome"
        assert (await gateway.reply("gw-test.2"))["code"] == "nick_taken"
        assert await connect(gateway, "gw-test.3", "bob") == ["alice", "bob"]
        assert await rooms(gateway, "gw-test.3") == [
            {"room": "dev", "members": 1},
            {"room": "lobby", "members": 2},
        ]
        await gateway.message("gw-test.1", "still here")  # Its rooms and nick are known.
        said = await gateway.said("gw-test.1", "chat.lobby")
        assert (said["nick"], said["text"]) == ("alice", "still here")
        await gateway.close("gw-test.1")
        assert (await gateway.published("chat.lobby"))["type"] == "leave"
        assert (await gateway.published("chat.dev"))["type"] == "leave"


@pytest.fixture
async def dead_gateway(redis_url: str) -> AsyncIterator[FakeGateway]:
    """A gateway that dies when the test deletes its alive key, as if it had expired."""
    async with FakeGateway(redis_url, "chat", id="gw-dead") as gateway:
        await gateway.redis.set(alive_key(gateway.id), 1)
        yield gateway


async def test_the_members_of_a_gateway_that_died_are_swept_with_a_leave(
    gateway: FakeGateway, dead_gateway: FakeGateway, redis_url: str, tmp_path: Path
) -> None:
    settings = ChatSettings(
        redis_url=redis_url, health_file=str(tmp_path / "healthy"), sweep_interval=0.05
    )
    handlers = ChatHandlers.from_settings(settings)
    async with running(Service("chat", handlers, settings)):
        await connect(gateway, "gw-test.1", "bob")
        await dead_gateway.open("gw-dead.1", query="nick=alice", path="/chat")
        assert (await gateway.published("chat.lobby"))["nick"] == "alice"
        await dead_gateway.message("gw-dead.1", json.dumps({"type": "join", "room": "dev"}))
        assert (await gateway.published("chat.dev"))["nick"] == "alice"
        # gw-dead stops refreshing its alive key, which expires: at the next sweep, alice leaves.
        await dead_gateway.redis.delete(alive_key(dead_gateway.id))
        left = [without_ts(await gateway.published(topic)) for topic in ("chat.lobby", "chat.dev")]
        assert left == [
            {"type": "leave", "room": "lobby", "nick": "alice", "seq": 3},
            {"type": "leave", "room": "dev", "nick": "alice", "seq": 2},
        ]
        await eventually_members(gateway, "lobby", [b"bob"])

        async def forgotten() -> bool:  # The last step of the sweep, after the leaves.
            return await gateway.redis.smembers("wslab:chat:gateways") == {b"gw-test"}

        await until(forgotten, "the sweeper to forget gw-dead")
        # Only the expiring records of the events its envelopes made remain.
        dead = await gateway.redis.keys("wslab:chat:*gw-dead*")
        assert all(key.startswith(b"wslab:chat:event:") for key in dead), dead
        assert await rooms(gateway, "gw-test.1") == [{"room": "lobby", "members": 1}]


# Identity from a token (docs/SECURITY.md, "Tokens").


@pytest.mark.usefixtures("chat")
async def test_a_token_s_subject_is_the_nickname_whatever_the_query_asks(
    gateway: FakeGateway,
) -> None:
    await gateway.open("gw-test.1", query="nick=mallory", path="/chat", user="alice")
    assert await gateway.reply("gw-test.1") == {"type": "welcome", "nick": "alice", "room": "lobby"}
    assert await joined(gateway, "gw-test.1", "alice", "lobby") == ["alice"]
    await send(gateway, "gw-test.1", type="say", text="it is me")
    said = await gateway.said("gw-test.1", "chat.lobby")
    assert (said["nick"], said["text"]) == ("alice", "it is me")


@pytest.mark.usefixtures("chat")
async def test_a_room_the_token_does_not_allow_is_refused_and_its_history_never_sent(
    gateway: FakeGateway,
) -> None:
    await connect(gateway, "gw-test.1", "bob", room="dev")  # The room has a history.
    patterns = ["team-*"]
    await gateway.open("gw-test.2", query="room=dev", path="/chat", user="eve", rooms=patterns)
    assert await gateway.reply("gw-test.2") == {"type": "welcome", "nick": "eve", "room": "dev"}
    refused = error("forbidden", "your token does not let you into 'dev'")
    assert await gateway.reply("gw-test.2") == refused
    for request in ({"type": "join", "room": "dev"}, {"type": "history", "room": "dev"}):
        await send(gateway, "gw-test.2", **request)
        reply = await gateway.reply("gw-test.2")
        assert reply["type"] == "error", reply
        assert reply["code"] in ("forbidden", "not_member"), reply
    # A room its patterns match is open to it.
    await gateway.listen("chat.team-red")
    assert await join_room(gateway, "gw-test.2", "eve", "team-red") == ["eve"]
