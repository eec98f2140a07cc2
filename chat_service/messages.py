"""The chat's messages (docs/MESSAGES.md, "Chat"): parsing the client's, building ours."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from servicekit import ClientError

__all__ = ["DEFAULT_ROOM", "Say", "parse", "room_event", "welcome"]

DEFAULT_ROOM = "lobby"

RoomEvent = Literal["join", "message", "leave"]


@dataclass(frozen=True, kw_only=True)
class Say:
    """A client says ``text`` in ``room``."""

    text: str
    room: str = DEFAULT_ROOM


def parse(payload: str) -> Say:
    """Parse a client's message.

    A payload that is not a JSON object is said as it is in the default room, as bare
    lines were in the 2010 demo; a JSON object must be
    ``{"type": "say", "text": ..., "room": ...}``, ``room`` being optional.

    Raises:
        ClientError: a JSON object that is not a valid ``say`` (``bad_request``).
    """
    try:
        message = json.loads(payload)
    except (ValueError, RecursionError):  # Deep nesting overflows the parser.
        message = None
    if not isinstance(message, dict):
        return Say(text=payload)
    kind = message.get("type")
    if kind != "say":
        raise ClientError("missing type" if kind is None else f"unknown type {kind!r:.40}")
    text = message.get("text")
    if not isinstance(text, str):
        raise ClientError("say needs a text string")
    room = message.get("room", DEFAULT_ROOM)
    if not isinstance(room, str):
        raise ClientError("room must be a string")
    return Say(text=text, room=room)


def welcome(nick: str, room: str) -> dict[str, object]:
    """Return the ``welcome`` message a client receives right after connecting."""
    return {"type": "welcome", "nick": nick, "room": room}


def room_event(
    kind: RoomEvent, *, room: str, nick: str, seq: int, ts: float, text: str | None = None
) -> dict[str, object]:
    """Return a ``join``, ``message`` (with ``text``) or ``leave`` message for a room."""
    event: dict[str, object] = {"type": kind, "room": room, "nick": nick}
    if kind == "message":
        event["text"] = text
    event["seq"] = seq
    event["ts"] = ts
    return event
