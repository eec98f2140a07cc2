"""The chat's limits: text length, message rate, rooms per connection."""

from __future__ import annotations

import json

import pytest

from chat_service import ChatHandlers, ChatSettings
from tests.chat_service.test_rooms import connect, error, join_room, send
from tests.servicekit.fake_gateway import FakeGateway

pytestmark = pytest.mark.usefixtures("chat")


@pytest.fixture
def handlers() -> ChatHandlers:
    """Tight limits: texts of 5 characters, bursts of 4 messages, 2 rooms."""
    return ChatHandlers(max_text=5, rate=0.001, burst=4, max_rooms=2)


async def test_a_text_too_long_is_refused_with_too_long(gateway: FakeGateway) -> None:
    await connect(gateway, "gw-test.1", "alice")
    await connect(gateway, "gw-test.2", "bob")
    too_long = error("too_long", "texts are at most 5 characters; this one was not said")
    await gateway.message("gw-test.1", "123456")
    assert await gateway.reply("gw-test.1") == too_long
    await send(gateway, "gw-test.1", type="private", to="bob", text="123456")
    assert await gateway.reply("gw-test.1") == too_long
    await gateway.message("gw-test.1", "12345")
    said = await gateway.said("gw-test.1", "chat.lobby")
    assert (said["text"], said["seq"]) == ("12345", 3)


async def test_messages_beyond_the_rate_are_refused_and_not_said(gateway: FakeGateway) -> None:
    await connect(gateway, "gw-test.1", "alice")
    await connect(gateway, "gw-test.2", "bob")
    for n in range(4):
        await gateway.message("gw-test.1", f"m{n}")
        assert (await gateway.said("gw-test.1", "chat.lobby"))["text"] == f"m{n}"
    await gateway.message("gw-test.1", "m4")
    assert await gateway.reply("gw-test.1") == error(
        "rate_limited", "more than 0.001 messages per second; this one was dropped"
    )
    await gateway.message("gw-test.2", "bob")  # bob has his own bucket.
    said = await gateway.said("gw-test.2", "chat.lobby")
    assert (said["nick"], said["seq"]) == ("bob", 7)  # Nothing of alice's in between.


async def test_joining_more_rooms_than_allowed_gets_too_many_rooms(gateway: FakeGateway) -> None:
    await gateway.listen("chat.dev")
    await connect(gateway, "gw-test.1", "alice")
    await join_room(gateway, "gw-test.1", "alice", "dev")
    await gateway.message("gw-test.1", json.dumps({"type": "join", "room": "ops"}))
    assert await gateway.reply("gw-test.1") == error(
        "too_many_rooms", "you are in 2 rooms already; leave one first"
    )


def test_the_limits_are_settings_with_safe_defaults() -> None:
    settings = ChatSettings()
    assert (settings.max_text, settings.rate, settings.burst) == (2000, 5.0, 10)
    assert (settings.max_rooms, settings.sweep_interval) == (10, 5.0)
    handlers = ChatHandlers.from_settings(ChatSettings(max_text=7, max_rooms=3, lease=1.5))
    assert (handlers.max_text, handlers.max_rooms) == (7, 3)
    assert handlers.event_ttl == 30  # Twenty leases: long after a takeover handles it again.


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_text", 0, "max text must be at least 1"),
        ("burst", 0, "burst must be at least 1"),
        ("max_rooms", 0, "max rooms must be at least 1"),
        ("rate", 0.0, "rate must be positive"),
        ("sweep_interval", -1.0, "sweep interval must be positive"),
    ],
)
def test_a_limit_out_of_range_is_refused(field: str, value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ChatSettings(**{field: value})  # type: ignore[arg-type]
