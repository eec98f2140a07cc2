"""The chat service's names in Redis: the one place they are spelled (docs/BUS.md, "Chat state")."""

from __future__ import annotations

__all__ = [
    "GATEWAYS_KEY",
    "NICKS_KEY",
    "ROOMS_KEY",
    "conn_nick_key",
    "conn_rooms_key",
    "event_key",
    "gateway_conns_key",
    "history_key",
    "members_key",
    "reserved_key",
    "seq_key",
    "topic",
]

ROOMS_KEY = "wslab:chat:rooms"
GATEWAYS_KEY = "wslab:chat:gateways"
NICKS_KEY = "wslab:chat:nicks"


def topic(room: str) -> str:
    """Return the topic of a room's events: ``chat.lobby``."""
    return f"chat.{room}"


def seq_key(room: str) -> str:
    """Return the Redis key counting a room's events: ``wslab:chat:lobby:seq``."""
    return f"wslab:chat:{room}:seq"


def history_key(room: str) -> str:
    """Return the Redis list of a room's last events: ``wslab:chat:lobby:history``."""
    return f"wslab:chat:{room}:history"


def members_key(room: str) -> str:
    """Return the hash of a room's members: ``wslab:chat:lobby:members``."""
    return f"wslab:chat:{room}:members"


def reserved_key(nick: str) -> str:
    """Return the key reserving a token holder's nickname: ``wslab:chat:nick:<nick>:reserved``."""
    return f"wslab:chat:nick:{nick}:reserved"


def conn_nick_key(conn: str) -> str:
    """Return the key of a connection's nickname: ``wslab:chat:conn:<conn>:nick``."""
    return f"wslab:chat:conn:{conn}:nick"


def conn_rooms_key(conn: str) -> str:
    """Return the sorted set of a connection's rooms: ``wslab:chat:conn:<conn>:rooms``."""
    return f"wslab:chat:conn:{conn}:rooms"


def gateway_conns_key(gateway: str) -> str:
    """Return the set of a gateway's connections: ``wslab:chat:gateway:<id>:conns``."""
    return f"wslab:chat:gateway:{gateway}:conns"


def event_key(conn: str, seq: int, kind: str, room: str) -> str:
    """Return the key recording the room event of a kind an envelope made, holding the
    event's seq: ``wslab:chat:event:<conn>:<envelope seq>:join:lobby``."""
    return f"wslab:chat:event:{conn}:{seq}:{kind}:{room}"
