"""``wslab chat`` without I/O: typed lines to commands, chat events to readable lines.

:class:`ChatState` is what the command knows about the conversation: the nick, the rooms it
joined (the last one is where typed lines are said), and the last ``seq`` seen in each room,
so that it can resume after a dropped connection and print every event once
(docs/MESSAGES.md, "History"). It follows the server: a room is joined when the server
says so, and the messages sent wait for their answers (:attr:`ChatState.awaited`). The
runner, :mod:`client.cli.chat`, does the I/O.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from .display import format_message, parse_object
from .services import service_url

__all__ = [
    "COMMANDS",
    "NAME_RULE",
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
    "is_valid_name",
    "parse_line",
    "render",
    "stamped",
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


NAME_RULE = "1 to 32 letters, digits, _ or -"
# The chat's rule for nicknames and room names alike (chat_service/nicknames.py and
# messages.py, which the client cannot import): checked here so that a name the chat would
# refuse, or silently replace with a guest's, is refused before anything is sent.
_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")


def is_valid_name(name: str) -> bool:
    """Whether the chat takes ``name`` as a nickname or a room name (:data:`NAME_RULE`)."""
    return _NAME.fullmatch(name) is not None


def _is_blank(line: str) -> bool:
    """Whether ``line`` shows nothing: spaces, control and other invisible characters."""
    return not any(char.isprintable() and not char.isspace() for char in line)


def _room_or_note(room: str, command: Join | Leave) -> Command:
    """``command`` if ``room`` is a room name, else why it cannot be."""
    if is_valid_name(room):
        return command
    return Note(f"! {_escape(room)} is not a room name: room names are {NAME_RULE}")


def parse_line(line: str) -> Command | None:
    """Turn a typed line into a command; None for a line that shows nothing.

    A line is said in the current room unless it starts with ``/``; ``//`` says a line that
    starts with one ``/``.
    """
    if _is_blank(line):
        return None
    if not line.startswith("/") or line.startswith("//"):
        return Say(line.removeprefix("/") if line.startswith("//") else line)
    name, _, rest = line[1:].partition(" ")
    words = rest.split()
    match name, words:
        case "join", [room]:
            return _room_or_note(room, Join(room))
        case "leave", []:
            return Leave()
        case "leave", [room]:
            return _room_or_note(room, Leave(room))
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
    return Note(f"! unknown command /{_escape(name)}; {COMMANDS}")


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
    """The conversation as the command sees it: nick, joined rooms, seqs seen, and the
    messages sent that the server has yet to answer.

    ``timestamps``: live events show their time too, as history events always do.
    """

    def __init__(self, nick: str, *, timestamps: bool = False) -> None:
        self.nick = nick
        self.rooms: list[str] = []  # joined, in order; the last one is the current room
        self.seqs = SeqTracker()
        self.welcomed = False
        self.timestamps = timestamps
        # Sent (or, for the first room, asked for in the URL) and not answered yet, oldest
        # first: the runner sends a line once the one before is answered.
        self.awaited: list[dict[str, object]] = []

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

    def expect(self, message: dict[str, object]) -> None:
        """Await the server's answer to ``message``, about to be sent.

        A ``leave`` awaits none: the service unsubscribes the connection from the room right
        after announcing it, so the announcement may never reach it.
        """
        if message.get("type") != "leave":
            self.awaited.append(message)

    def apply(self, command: Command) -> None:
        """Update the joined rooms once ``command`` was sent: switching to a room already
        joined, and leaving one, take effect at once; joining one waits for the server."""
        match command:
            case Join(room) if room in self.rooms:
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

        A ``history`` shows the events it holds that were not seen yet, with their times,
        between a ``-- history of ROOM --`` and a ``-- live --`` line; a ``welcome`` shows
        only on the first connection.
        """
        event = parse_object(text)
        if event is None:
            return [_escape(text)]
        self._settle(event)
        kind = event.get("type")
        if kind == "welcome":
            if isinstance(event.get("nick"), str):
                self.nick = str(event["nick"])
            first, self.welcomed = not self.welcomed, True
            return [render(event, self.nick)] if first else []
        if kind == "history":
            events = event.get("events")
            items = events if isinstance(events, list) else []
            lines = [
                line
                for item in items
                if isinstance(item, dict)
                for line in self._new(item, stamp=True)
            ]
            header = f"-- history of {_field(event, 'room')} --"
            return [header, *lines, "-- live --"] if lines else []
        if kind in _ROOM_EVENTS:
            return self._new(event, stamp=self.timestamps)
        line = render(event, self.nick)
        return [stamped(event, line) if self.timestamps else line]

    def _new(self, event: Mapping[str, object], *, stamp: bool) -> list[str]:
        room, seq = event.get("room"), event.get("seq")
        if isinstance(room, str) and isinstance(seq, int) and not self.seqs.see(room, seq):
            return []
        line = render(event, self.nick)
        return [stamped(event, line) if stamp else line]

    def _settle(self, event: Mapping[str, object]) -> None:
        """Take ``event`` as the answer to the oldest message awaiting one that it answers
        (an error answers the oldest: the server answers in order); a ``join`` answered by
        its room's members or our own ``join`` makes that room the current one."""
        if event.get("type") == "error":
            answered = 0 if self.awaited else None
        else:
            answered = next(
                (i for i, sent in enumerate(self.awaited) if _answers(sent, event, self.nick)),
                None,
            )
        if answered is None:
            return
        sent = self.awaited.pop(answered)
        room = sent.get("room")
        joined = sent.get("type") == "join" and event.get("type") != "error"
        if joined and isinstance(room, str) and room not in self.rooms:
            self.rooms.append(room)

    def resume(self, base: str, default_room: str) -> tuple[str, list[dict[str, object]]]:
        """How to (re)connect: the URL, then messages to send; their answers are awaited.

        The URL joins the first joined room (``default_room`` if none) since its last seq;
        the other rooms are joined again and asked for what they missed.
        """
        first, *others = self.rooms or [default_room]
        url = chat_url(base, self.nick, first, self.seqs.last(first))
        messages: list[dict[str, object]] = []
        for room in others:
            messages.append({"type": "join", "room": room})
            since = self.seqs.last(room)
            if since is not None:
                messages.append({"type": "history", "room": room, "since": since})
        self.awaited = [{"type": "join", "room": first}, *messages]
        return url, messages


def _answers(sent: Mapping[str, object], event: Mapping[str, object], me: str) -> bool:
    """Whether ``event`` is the server's answer to ``sent``, a message of ours that is not
    an error (docs/MESSAGES.md, "Chat")."""
    room = event.get("room")
    match sent.get("type"), event.get("type"):
        case "join", "members":
            return room == sent.get("room")
        case "join", "join":  # ours, live: the members follow, unless this one was late
            return room == sent.get("room") and event.get("nick") == me
        case "say", "message":
            return room == sent.get("room") and event.get("nick") == me
        case "private", "private":
            return event.get("from") == me and event.get("to") == sent.get("to")
        case "history", "history":
            return room == sent.get("room")
        case "rooms", "rooms":
            return True
    return False


def stamped(event: Mapping[str, object], line: str) -> str:
    """``line`` after the local time (hours and minutes) of ``event``'s ``ts``, if it has
    a valid one."""
    ts = event.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        return line
    try:
        return f"[{time.strftime('%H:%M', time.localtime(ts))}] {line}"
    except (OverflowError, OSError, ValueError):  # far out of range, or NaN
        return line


def chat_url(base: str, nick: str, room: str, since: int | None = None) -> str:
    """The URL of the gateway's ``/chat`` for this nick (none: a token's) and room, resuming
    after ``since``."""
    query: dict[str, object] = {"nick": nick, "room": room} if nick else {"room": room}
    if since is not None:
        query["since"] = since
    return service_url(base, "/chat", urllib.parse.urlencode(query))


def _escape(text: str) -> str:
    """Peer text, escaped to stay on one line without moving the cursor, tabs included."""
    return format_message(text, escape_tabs=True)


def _field(event: Mapping[str, object], key: str) -> str:
    """A field of a peer's event, escaped to stay on one line; ``?`` if missing."""
    value = event.get(key)
    if value is None:
        return "?"
    return _escape(value if isinstance(value, str) else json.dumps(value))


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
            names = [_escape(str(nick)) for nick in nicks]
            return f"* in {room}: {', '.join(names) or 'nobody'}"
        case "rooms":
            return f"* rooms: {_rooms(event.get('rooms'))}"
        case "resync":
            first = _field(event, "from")
            return f"! some messages in {room} were lost: its history resumes at seq {first}"
        case "error":
            return f"! error: {_field(event, 'code')}: {_field(event, 'message')}"
    return _escape(json.dumps(event))


def _rooms(rooms: object) -> str:
    if not isinstance(rooms, list):
        return "none"
    parts = []
    for item in rooms:
        if not isinstance(item, dict):
            continue
        members = item.get("members")
        count = len(members) if isinstance(members, list) else members
        parts.append(f"{_field(item, 'room')} ({_escape(str(count))})")
    return ", ".join(parts) or "none"
