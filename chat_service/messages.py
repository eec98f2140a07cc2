"""The chat's messages (docs/MESSAGES.md, "Chat"): parsing the client's, building ours."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from servicekit import ClientError, encode

__all__ = [
    "DEFAULT_ROOM",
    "HistoryRequest",
    "Say",
    "event_template",
    "history",
    "parse",
    "parse_since",
    "resync",
    "room_event",
    "welcome",
]

DEFAULT_ROOM = "lobby"

RoomEvent = Literal["join", "message", "leave"]


@dataclass(frozen=True, kw_only=True)
class Say:
    """A client says ``text`` in ``room``."""

    text: str
    room: str = DEFAULT_ROOM


@dataclass(frozen=True, kw_only=True)
class HistoryRequest:
    """A client asks for ``room``'s events after ``since``, or the last ones if None."""

    since: int | None = None
    room: str = DEFAULT_ROOM


BAD_SINCE = "since must be a non-negative integer"
_DIGITS = re.compile(r"[0-9]+")


def parse_since(value: str) -> int:
    """Parse the ``since`` query parameter: decimal digits only.

    Raises:
        ClientError: anything else, such as ``-1``, ``+1``, ``1.0`` or ``""``.
    """
    if _DIGITS.fullmatch(value) is None:
        raise ClientError(BAD_SINCE)
    return int(value)


def parse(payload: str) -> Say | HistoryRequest:
    """Parse a client's message.

    A payload that is not a JSON object is said as it is in the default room, as bare
    lines were in the 2010 demo; a JSON object must be
    ``{"type": "say", "text": ..., "room": ...}`` or
    ``{"type": "history", "since": ..., "room": ...}``, ``room`` and ``since`` being
    optional.

    Raises:
        ClientError: a JSON object that is not a valid ``say`` or ``history``
            (``bad_request``).
    """
    try:
        message = json.loads(payload)
    except (ValueError, RecursionError):  # Deep nesting overflows the parser.
        message = None
    if not isinstance(message, dict):
        return Say(text=payload)
    kind = message.get("type")
    if kind not in ("say", "history"):
        raise ClientError("missing type" if kind is None else f"unknown type {kind!r:.40}")
    room = message.get("room", DEFAULT_ROOM)
    if not isinstance(room, str):
        raise ClientError("room must be a string")
    if kind == "history":
        if "since" not in message:
            return HistoryRequest(room=room)
        since = message["since"]
        # bool is an int in Python, but true is not a seq; nor is null.
        if type(since) is not int or since < 0:
            raise ClientError(BAD_SINCE)
        return HistoryRequest(since=since, room=room)
    text = message.get("text")
    if not isinstance(text, str):
        raise ClientError("say needs a text string")
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


def event_template(
    kind: RoomEvent, *, room: str, nick: str, ts: float, text: str | None = None
) -> tuple[str, str]:
    """Return the text of a room event, as it is published, split where its seq goes.

    The seq is only known inside Redis (``service.APPEND``), which joins
    ``before + str(seq) + after``. The rest is encoded here, as any message is
    (``servicekit.encode``): Redis' cjson would lose ``ts``'s sub-second digits (it keeps
    14 significant digits) and the order of the keys.
    """
    encoded = encode(room_event(kind, room=room, nick=nick, seq=0, ts=ts, text=text))
    # The last '"seq": 0, ' is the key's: only "ts", a number, follows it.
    before, found, after = encoded.rpartition('"seq": 0, ')
    assert found, encoded
    return before + '"seq": ', ", " + after


def resync(room: str, first: int) -> dict[str, object]:
    """Return the notice that events before ``first`` are no longer kept."""
    return {"type": "resync", "room": room, "from": first}


def history(room: str, events: Sequence[str]) -> str:
    """Return the ``history`` message: ``events`` are encoded room events, in seq order.

    They are inserted as they are, so that each is exactly the text that was published.
    """
    head = encode({"type": "history", "room": room, "events": []})
    return head.removesuffix("[]}") + "[" + ", ".join(events) + "]}"
