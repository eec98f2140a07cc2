"""``wslab chat`` without I/O: typed lines to commands, chat events to readable lines.

:class:`ChatState` is what the command knows about the conversation: the nick, the rooms it
joined (the last one is where typed lines are said), and the last ``seq`` seen in each room,
so that it can resume after a dropped connection and print every event once
(docs/MESSAGES.md, "History"). The runner, :mod:`client.cli.chat`, does the I/O.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from .display import format_message, parse_object
from .services import service_url

__all__ = [
    "COMMANDS",
    "ChatState",
    "Command",
    "Join",
    "Leave",
    "ListRooms",
    "NotInRoom",
    "Note",
    "Private",
    "Quit",
    "Say",
    "SeqTracker",
    "chat_url",
    "parse_line",
    "render",
]


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Join:
    room: str


@dataclass(frozen=True)
class Leave:
    room: str | None = None  # None: the current room


@dataclass(frozen=True)
class ListRooms:
    pass


@dataclass(frozen=True)
class Private:
    to: str
    text: str


@dataclass(frozen=True)
class Quit:
    pass


@dataclass(frozen=True)
class Note:
    """Nothing to send: show ``text`` to the person typing (help, or a mistake)."""

    text: str


Command = Say | Join | Leave | ListRooms | Private | Quit | Note

COMMANDS = (
    "commands: /join ROOM, /leave [ROOM], /rooms, /msg NICK TEXT, /quit "
    "(// starts a line that begins with /)"
)


def parse_line(line: str) -> Command | None:
    """Turn a typed line into a command; None for a blank line.

    A line is said in the current room unless it starts with ``/``; ``//`` says a line that
    starts with one ``/``.
    """
    if not line.strip():
        return None
    if not line.startswith("/") or line.startswith("//"):
        return Say(line.removeprefix("/") if line.startswith("//") else line)
    name, _, rest = line[1:].partition(" ")
    words = rest.split()
    match name, words:
        case "join", [room]:
            return Join(room)
        case "leave", [] | [_]:
            return Leave(words[0] if words else None)
        case "rooms", []:
            return ListRooms()
        case "msg", [nick, *_]:
            text = rest.strip().removeprefix(nick).strip()
            return Private(nick, text) if text else Note("! usage: /msg NICK TEXT")
        case "quit", []:
            return Quit()
        case "help", _:
            return Note(f"* {COMMANDS}")
        case (("join" | "leave" | "rooms" | "msg" | "quit"), _):
            usage = {"join": "/join ROOM", "leave": "/leave [ROOM]", "msg": "/msg NICK TEXT"}
            return Note(f"! usage: {usage.get(name, '/' + name)}")
    return Note(f"! unknown command /{format_message(name)}; {COMMANDS}")


class NotInRoom(Exception):
    """A command needs a current room and there is none."""


class SeqTracker:
    """The events seen in each room, by ``seq``: the last one, and which were seen.

    Events may come twice (live and in a ``history``) and out of order (a history after a
    newer live event); each is new once. Only the last ``window`` seqs below the highest are
    remembered: older ones count as seen.
    """

    def __init__(self, window: int = 1024) -> None:
        self.window = window
        self._last: dict[str, int] = {}
        self._seen: dict[str, set[int]] = {}

    def last(self, room: str) -> int | None:
        """The highest seq seen in ``room``, None if none yet."""
        return self._last.get(room)

    def see(self, room: str, seq: int) -> bool:
        """Record ``seq`` in ``room``; return True if it was not seen before."""
        last = self._last.get(room)
        seen = self._seen.setdefault(room, set())
        if seq in seen or (last is not None and seq <= last - self.window):
            return False
        seen.add(seq)
        if last is None or seq > last:
            self._last[room] = seq
            floor = seq - self.window
            seen.difference_update([old for old in seen if old <= floor])
        return True


_ROOM_EVENTS = ("join", "leave", "message")


class ChatState:
    """The conversation as the command sees it: nick, joined rooms, seqs seen."""

    def __init__(self, nick: str, room: str) -> None:
        self.nick = nick
        self.rooms = [room]  # joined, in order; the last one is the current room
        self.seqs = SeqTracker()
        self.welcomed = False

    @property
    def current(self) -> str | None:
        """The room typed lines are said in."""
        return self.rooms[-1] if self.rooms else None

    def message_for(self, command: Command) -> dict[str, object] | None:
        """The message to send for ``command``; None for commands that send nothing.

        Raises:
            NotInRoom: the command needs a current room and every room was left.
        """
        match command:
            case Say(text):
                return {"type": "say", "room": self._room(), "text": text}
            case Join(room):
                # Already in it: only make it the current room (the server would refuse).
                return None if room in self.rooms else {"type": "join", "room": room}
            case Leave(room):
                return {"type": "leave", "room": room or self._room()}
            case ListRooms():
                return {"type": "rooms"}
            case Private(to, text):
                return {"type": "private", "room": self._room(), "to": to, "text": text}
        return None

    def apply(self, command: Command) -> None:
        """Update the joined rooms once ``command`` was sent."""
        match command:
            case Join(room):
                if room in self.rooms:
                    self.rooms.remove(room)
                self.rooms.append(room)
            case Leave(room):
                left = room or self.current
                if left in self.rooms:
                    self.rooms.remove(left)

    def _room(self) -> str:
        if self.current is None:
            raise NotInRoom("you are in no room: /join ROOM first")
        return self.current

    def receive(self, text: str) -> list[str]:
        """Record a received message; return the lines to show, without repeated events.

        A ``history`` shows the events it holds that were not seen yet; a ``welcome``
        shows only on the first connection.
        """
        event = parse_object(text)
        if event is None:
            return [format_message(text)]
        kind = event.get("type")
        if kind == "welcome":
            if isinstance(event.get("nick"), str):
                self.nick = str(event["nick"])
            first, self.welcomed = not self.welcomed, True
            return [render(event, self.nick)] if first else []
        if kind == "history":
            events = event.get("events")
            items = events if isinstance(events, list) else []
            return [line for item in items if isinstance(item, dict) for line in self._new(item)]
        if kind in _ROOM_EVENTS:
            return self._new(event)
        return [render(event, self.nick)]

    def _new(self, event: Mapping[str, object]) -> list[str]:
        room, seq = event.get("room"), event.get("seq")
        if isinstance(room, str) and isinstance(seq, int) and not self.seqs.see(room, seq):
            return []
        return [render(event, self.nick)]

    def resume(self, base: str, default_room: str) -> tuple[str, list[dict[str, object]]]:
        """How to resume after a dropped connection: the URL, then messages to send.

        The URL joins the first joined room since its last seq; the other rooms are joined
        again and asked for what they missed.
        """
        first, *others = self.rooms or [default_room]
        url = chat_url(base, self.nick, first, self.seqs.last(first))
        messages: list[dict[str, object]] = []
        for room in others:
            messages.append({"type": "join", "room": room})
            since = self.seqs.last(room)
            if since is not None:
                messages.append({"type": "history", "room": room, "since": since})
        return url, messages


def chat_url(base: str, nick: str, room: str, since: int | None = None) -> str:
    """The URL of the gateway's ``/chat`` for this nick and room, resuming after ``since``."""
    query: dict[str, object] = {"nick": nick, "room": room}
    if since is not None:
        query["since"] = since
    return service_url(base, "/chat", urllib.parse.urlencode(query))


def _field(event: Mapping[str, object], key: str) -> str:
    """A field of a peer's event, escaped to stay on one line; ``?`` if missing."""
    value = event.get(key)
    if value is None:
        return "?"
    return format_message(value if isinstance(value, str) else json.dumps(value))


def render(event: Mapping[str, object], me: str = "") -> str:
    """One readable line for a chat event (docs/MESSAGES.md), peer text escaped.

    ``me`` is this client's nick: a private message it sent shows whom it went to.
    """
    room = _field(event, "room")
    match event.get("type"):
        case "welcome":
            return f"* you are {_field(event, 'nick')}, in {room}"
        case "message":
            return f"[{room}] <{_field(event, 'nick')}> {_field(event, 'text')}"
        case "join":
            return f"* {_field(event, 'nick')} joined {room}"
        case "leave":
            return f"* {_field(event, 'nick')} left {room}"
        case "private":
            sender, text = _field(event, "from"), _field(event, "text")
            if event.get("from") == me and me:
                return f"(private to {_field(event, 'to')}) <{sender}> {text}"
            return f"(private) <{sender}> {text}"
        case "members":
            members = event.get("members")
            nicks = members if isinstance(members, list) else []
            names = [format_message(str(nick)) for nick in nicks]
            return f"* in {room}: {', '.join(names) or 'nobody'}"
        case "rooms":
            return f"* rooms: {_rooms(event.get('rooms'))}"
        case "resync":
            first = _field(event, "from")
            return f"! some messages in {room} were lost: its history resumes at seq {first}"
        case "error":
            return f"! error: {_field(event, 'code')}: {_field(event, 'message')}"
    return format_message(json.dumps(event))


def _rooms(rooms: object) -> str:
    if not isinstance(rooms, list):
        return "none"
    parts = []
    for item in rooms:
        if not isinstance(item, dict):
            continue
        members = item.get("members")
        count = len(members) if isinstance(members, list) else members
        parts.append(f"{_field(item, 'room')} ({format_message(str(count))})")
    return ", ".join(parts) or "none"
