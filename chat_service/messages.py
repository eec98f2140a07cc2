"""The chat's messages (docs/MESSAGES.md, "Chat"): parsing the client's, building ours."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Literal

from servicekit import ClientError, encode

__all__ = [
    "DEFAULT_ROOM",
    "FORBIDDEN",
    "HistoryRequest",
    "Join",
    "Leave",
    "Private",
    "Request",
    "RoomsRequest",
    "Say",
    "event_template",
    "history",
    "is_valid_room",
    "may_enter",
    "members",
    "parse",
    "parse_since",
    "private",
    "resync",
    "room_event",
    "rooms",
    "welcome",
]

DEFAULT_ROOM = "lobby"

RoomEvent = Literal["join", "message", "leave"]

BAD_JSON = "bad_json"
"""The error code for a message that starts with ``{`` but is not JSON."""

ROOM_NAME = "room names are 1 to 32 letters, digits, _ or -"
FORBIDDEN = "forbidden"
"""The error code for a room the client's token does not let it into."""
_ROOM = re.compile(r"[A-Za-z0-9_-]{1,32}")


def is_valid_room(room: str) -> bool:
    """Return True if ``room`` is 1 to 32 ASCII letters, digits, ``_`` or ``-``."""
    return _ROOM.fullmatch(room) is not None


def may_enter(room: str, patterns: Iterable[str] | None) -> bool:
    """Return True if a client whose token allows ``patterns`` (``*``: any characters;
    None: no token, or one without ``rooms``) may enter ``room``."""
    return patterns is None or any(fnmatchcase(room, pattern) for pattern in patterns)


@dataclass(frozen=True, kw_only=True)
class Say:
    """A client says ``text`` in ``room``, or in its first room if None."""

    text: str
    room: str | None = None


@dataclass(frozen=True, kw_only=True)
class HistoryRequest:
    """A client asks for ``room``'s events after ``since``, or the last ones if None.

    ``room`` None is the client's first room.
    """

    since: int | None = None
    room: str | None = None


@dataclass(frozen=True, kw_only=True)
class Join:
    """A client joins ``room``."""

    room: str


@dataclass(frozen=True, kw_only=True)
class Leave:
    """A client leaves ``room``."""

    room: str


@dataclass(frozen=True, kw_only=True)
class RoomsRequest:
    """A client asks which rooms have members."""


@dataclass(frozen=True, kw_only=True)
class Private:
    """A client says ``text`` to ``to`` only, in ``room`` (its first room if None)."""

    to: str
    text: str
    room: str | None = None


Request = Say | HistoryRequest | Join | Leave | RoomsRequest | Private

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


def _room(message: dict[str, Any], *, required: bool = False) -> str | None:
    if "room" not in message:
        if required:
            raise ClientError(f"{message['type']} needs a room")
        return None
    room = message["room"]
    if not isinstance(room, str):
        raise ClientError("room must be a string")
    if not is_valid_room(room):
        raise ClientError(ROOM_NAME)
    return room


def _text(message: dict[str, Any]) -> str:
    text = message.get("text")
    if not isinstance(text, str):
        raise ClientError(f"{message['type']} needs a text string")
    return text


def parse(payload: str) -> Request:
    """Parse a client's message (docs/MESSAGES.md, "Chat").

    A payload that is not a JSON object is said as it is in the client's first room, as
    bare lines were in the 2010 demo, unless it starts with ``{``: then it must be a JSON
    object, of a known ``type``. ``room``, when present, must be a valid room name.

    Raises:
        ClientError: a payload starting with ``{`` that is not JSON (``bad_json``); a JSON
            object that is not a valid request (``bad_request``).
    """
    try:
        message = json.loads(payload)
    except (ValueError, RecursionError):  # Deep nesting overflows the parser.
        if payload.startswith("{"):
            raise ClientError("this is not valid JSON", code=BAD_JSON) from None
        message = None
    if not isinstance(message, dict):
        return Say(text=payload)
    kind = message.get("type")
    match kind:
        case "say":
            return Say(text=_text(message), room=_room(message))
        case "history":
            room = _room(message)
            if "since" not in message:
                return HistoryRequest(room=room)
            since = message["since"]
            # bool is an int in Python, but true is not a seq; nor is null.
            if type(since) is not int or since < 0:
                raise ClientError(BAD_SINCE)
            return HistoryRequest(since=since, room=room)
        case "join":
            return Join(room=_room(message, required=True) or DEFAULT_ROOM)
        case "leave":
            return Leave(room=_room(message, required=True) or DEFAULT_ROOM)
        case "rooms":
            return RoomsRequest()
        case "private":
            to = message.get("to")
            if not isinstance(to, str):
                raise ClientError("private needs a to string")
            return Private(to=to, text=_text(message), room=_room(message))
        case None:
            raise ClientError("missing type")
        case _:
            raise ClientError(f"unknown type {kind!r:.40}")


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


def members(room: str, nicks: Iterable[str]) -> dict[str, object]:
    """Return the ``members`` message: who is in ``room``, nicknames sorted."""
    return {"type": "members", "room": room, "members": sorted(nicks)}


def rooms(counts: Iterable[tuple[str, int]]) -> dict[str, object]:
    """Return the ``rooms`` message: each room with members and how many, sorted by name."""
    listed = [{"room": room, "members": n} for room, n in sorted(counts) if n > 0]
    return {"type": "rooms", "rooms": listed}


def private(*, room: str, sender: str, to: str, text: str, ts: float) -> dict[str, object]:
    """Return the ``private`` message that ``to`` receives and ``sender`` gets as an echo."""
    return {"type": "private", "room": room, "from": sender, "to": to, "text": text, "ts": ts}
