"""What travels on the bus: envelopes (gateway → service) and commands (service → gateway).

Both are JSON objects with a version field ``v``. A topic's messages are not wrapped: the
bytes published on a topic channel are the text every subscribed client receives, unless
they begin with :func:`skipping`'s prefix, which names the connections that do not receive
it. See docs/BUS.md for the wire format and examples.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

__all__ = [
    "VERSION",
    "BusError",
    "Canary",
    "Close",
    "Command",
    "Envelope",
    "Send",
    "Subscribe",
    "Unsubscribe",
    "decode_command",
    "decode_topic",
    "encode_command",
    "skipping",
]

VERSION = 1


class BusError(ValueError):
    """A bus message that cannot be decoded; the receiver logs and drops it."""


@dataclass(frozen=True, kw_only=True)
class Envelope:
    """An event about one client connection, published by its gateway to a service.

    Attributes:
        kind: ``open`` when the connection opened, ``message`` for each message it sent,
            ``close`` when it closed.
        conn: the connection's id, unique across gateways.
        seq: the envelope's number among its connection's envelopes: 0 for ``open``, then
            1, 2, ... A service replica uses it to handle each envelope once
            (docs/ARCHITECTURE.md, "Service replicas").
        gateway: the id of the gateway holding the connection; commands go there.
        path: the path the client connected to, for example ``/chat``.
        query: the query string the client connected with, without ``?``.
        payload: the message (``message`` only): its text, or base64 if ``binary``.
        binary: True if the client sent a binary message.
        received_at: when the gateway received the message (Unix time, seconds).
        published_at: when the gateway published this envelope (Unix time, seconds).
        user: who the client is, as a token the gateway verified says (its subject);
            None for an anonymous client.
        rooms: the room patterns that token allows (``*`` matches any characters);
            None: any room.
    """

    kind: Literal["open", "message", "close"]
    conn: str
    seq: int
    gateway: str
    path: str
    query: str = ""
    payload: str | None = None
    binary: bool = False
    received_at: float
    published_at: float
    user: str | None = None
    rooms: list[str] | None = None

    def encode(self) -> bytes:
        """Return the envelope as JSON bytes."""
        # vars, not dataclasses.asdict: no field holds a dataclass, and asdict's deep copy
        # took two thirds of the time.
        return json.dumps({"v": VERSION, **vars(self)}).encode()

    @classmethod
    def decode(cls, data: bytes | str) -> Envelope:
        """Parse an envelope.

        Raises:
            BusError: it is not a valid envelope.
        """
        fields = _load(data)
        if fields.get("kind") not in ("open", "message", "close"):
            msg = f"invalid envelope kind {fields.get('kind')!r}"
            raise BusError(msg)
        return _build(cls, fields)


@dataclass(frozen=True, kw_only=True)
class Send:
    """Send a message to one connection."""

    op: ClassVar[str] = "send"
    conn: str
    payload: str
    binary: bool = False


@dataclass(frozen=True, kw_only=True)
class Subscribe:
    """Subscribe a connection to a topic: it receives every message published there.

    With ``conflate``, a connection that cannot keep up gets only the latest message of
    the topic when it catches up, instead of every message (docs/BUS.md, "Conflation").
    """

    op: ClassVar[str] = "subscribe"
    conn: str
    topic: str
    conflate: bool = False


@dataclass(frozen=True, kw_only=True)
class Unsubscribe:
    """Stop sending a topic's messages to a connection."""

    op: ClassVar[str] = "unsubscribe"
    conn: str
    topic: str


@dataclass(frozen=True, kw_only=True)
class Close:
    """Close a connection; ``reason`` becomes the body of the Close frame."""

    op: ClassVar[str] = "close"
    conn: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class Canary:
    """A gateway's message to itself, proving a round trip through Redis works."""

    op: ClassVar[str] = "canary"
    token: str


Command = Send | Subscribe | Unsubscribe | Close | Canary
"""Everything a gateway executes from its command channel."""

_COMMANDS: dict[str, type[Command]] = {
    command.op: command for command in (Send, Subscribe, Unsubscribe, Close, Canary)
}


def encode_command(command: Command) -> bytes:
    """Return a command as JSON bytes."""
    return json.dumps({"v": VERSION, "op": command.op, **vars(command)}).encode()


def decode_command(data: bytes | str) -> Command:
    """Parse a command.

    Raises:
        BusError: it is not a valid command.
    """
    fields = _load(data)
    op = fields.pop("op", None)
    command = _COMMANDS.get(op) if isinstance(op, str) else None
    if command is None:
        msg = f"unknown command {op!r}"
        raise BusError(msg)
    return _build(command, fields)


_SKIP = b"\xff"
"""The first byte of a topic message that some connections skip: never one of UTF-8 text,
so no text a client receives starts like it."""


def skipping(conns: Collection[str]) -> bytes:
    """Return the prefix of a topic message that ``conns`` do not receive.

    A service that answers one connection itself publishes to the topic with that
    connection skipped, so that it gets the message once, in order with its answers
    (docs/BUS.md, "Topics").
    """
    return _SKIP + json.dumps(sorted(conns)).encode() + b"\n"


def decode_topic(data: bytes) -> tuple[bytes, frozenset[str]]:
    """Split a topic message into the text clients receive and the connections it skips.

    Raises:
        BusError: the prefix is malformed.
    """
    if not data.startswith(_SKIP):
        return data, frozenset()
    header, found, text = data[len(_SKIP) :].partition(b"\n")
    try:
        conns = json.loads(header) if found else None
    except ValueError:
        conns = None
    if not isinstance(conns, list) or not all(isinstance(conn, str) for conn in conns):
        raise BusError("a topic message's skipped connections are not a list of ids")
    return text, frozenset(conns)


def _load(data: bytes | str) -> dict[str, Any]:
    try:
        fields = json.loads(data)
    except ValueError:
        raise BusError("not JSON") from None
    if not isinstance(fields, dict):
        raise BusError("not a JSON object")
    if fields.pop("v", None) != VERSION:
        msg = f"unsupported bus version, expected {VERSION}"
        raise BusError(msg)
    return fields


_T = typing.TypeVar("_T")
# JSON types that may stand for each annotation used above.
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "str | None": (str, type(None)),
    "bool": (bool,),
    "int": (int,),
    "float": (int, float),
    "list[str] | None": (list, type(None)),
}


def _build(cls: type[_T], fields: dict[str, Any]) -> _T:
    """Build ``cls`` from decoded JSON, checking names and types; raise BusError."""
    known = {field.name: field for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = fields.keys() - known.keys()
    if unknown:
        msg = f"unknown field {sorted(unknown)[0]!r} in {cls.__name__}"
        raise BusError(msg)
    for name, value in fields.items():
        annotation = str(known[name].type)
        allowed = _JSON_TYPES.get(annotation, (str,))
        if (
            not isinstance(value, allowed)
            or (isinstance(value, bool) and bool not in allowed)
            or (isinstance(value, list) and not all(isinstance(item, str) for item in value))
        ):
            msg = f"invalid {name!r} in {cls.__name__}: {value!r}"
            raise BusError(msg)
    try:
        return cls(**fields)
    except TypeError as exc:  # a required field is missing
        raise BusError(f"incomplete {cls.__name__}: {exc}") from None
