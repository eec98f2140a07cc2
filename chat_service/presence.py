"""Who is in which room, kept in Redis so that every chat service sees the same.

Keys (docs/BUS.md, "Chat state"), all without expiry; what a dead gateway leaves behind is
removed by the chat's sweeper, not by an expiry:

- ``wslab:chat:<room>:members``: hash, nickname -> ``{"conn": ..., "gateway": ...}``;
- ``wslab:chat:rooms``: set of the rooms with at least one member;
- ``wslab:chat:nicks``: hash, nickname -> the connection holding it, from its first join
  until it closes: a nickname is one connection's in every room;
- ``wslab:chat:nick:<nick>:reserved``: set while a token holder's nickname is theirs alone:
  from each of their joins, for the chat's room TTL (it expires);
- ``wslab:chat:conn:<conn>:nick``: a connection's nickname, the same in all its rooms;
- ``wslab:chat:conn:<conn>:rooms``: sorted set of its rooms, scored by when it joined them,
  so that its first room is the lowest;
- ``wslab:chat:gateway:<gateway>:conns``: set of the connections of a gateway;
- ``wslab:chat:gateways``: set of the gateways with connections.

Room keys have one part after the room (room names have no ``:``), nickname, connection and
gateway keys two, so they never meet. Joining and leaving are Lua scripts, atomic however
many chat services share the Redis: two connections cannot take the same nickname.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Literal

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

import bus
from servicekit import Connection

from .keys import (
    GATEWAYS_KEY,
    NICKS_KEY,
    ROOMS_KEY,
    conn_nick_key,
    conn_rooms_key,
    gateway_conns_key,
    members_key,
    reserved_key,
)

__all__ = [
    "JoinResult",
    "Presence",
]


JoinResult = Literal["ok", "already", "nick_taken", "nick_reserved", "too_many_rooms"]

JOIN = """
if ARGV[7] ~= '' then
  redis.call('SET', KEYS[5], '1', 'EX', ARGV[7])
elseif redis.call('EXISTS', KEYS[5]) == 1 then
  return 'nick_reserved'
end
if redis.call('ZSCORE', KEYS[2], ARGV[3]) then return 'already' end
local holder = redis.call('HGET', KEYS[4], ARGV[1])
if holder and holder ~= ARGV[6] then return 'nick_taken' end
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and current ~= ARGV[2] then return 'nick_taken' end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 'too_many_rooms' end
redis.call('HSET', KEYS[4], ARGV[1], ARGV[6])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[3])
return 'ok'
"""
"""Adds a connection to a room, unless its nickname is another connection's or reserved
for a token holder. A token holder's join reserves the nickname (again) first.

KEYS: the room's members, the connection's rooms, the set of rooms, the nicknames' holders,
the nickname's reservation. ARGV: the nickname, the member's value, the room, the most
rooms a connection may be in, the join's score, the connection, and for a token holder the
seconds the reservation lasts (else empty).
"""

LEAVE = """
local removed = 0
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  removed = 1
end
redis.call('ZREM', KEYS[2], ARGV[3])
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[3], ARGV[3]) end
return removed
"""
"""Removes a connection from a room; returns 1 if it was a member under that nickname.

KEYS and ARGV as for :data:`JOIN`, without the last two ARGV.
"""

RELEASE = """
local nick = redis.call('GET', KEYS[2])
if nick and redis.call('HGET', KEYS[1], nick) == ARGV[1] then redis.call('HDEL', KEYS[1], nick) end
"""
"""Gives up the nickname a connection holds. KEYS: the nicknames' holders, the connection's
nickname. ARGV: the connection."""

DROP_GATEWAY = """
if redis.call('SCARD', KEYS[2]) == 0 then redis.call('SREM', KEYS[1], ARGV[1]) end
"""
"""Forgets a gateway if it has no connection left. KEYS: the gateways, its connections."""


@dataclass(frozen=True)
class Member:
    """A room's member: the connection with that nickname, and its gateway."""

    conn: str
    gateway: str

    def encode(self) -> str:
        """Return the member's value in the room's hash."""
        return json.dumps({"conn": self.conn, "gateway": self.gateway})

    @classmethod
    def decode(cls, data: bytes | str) -> Member:
        """Read a member's value."""
        value = json.loads(data)
        return cls(conn=value["conn"], gateway=value["gateway"])


def _text(data: bytes | str) -> str:
    return data.decode() if isinstance(data, bytes) else data


class Presence:
    """Rooms, members and connections in Redis.

    Args:
        client: the Redis client.
    """

    def __init__(self, client: Redis) -> None:
        self.redis = client
        self._join: AsyncScript = client.register_script(JOIN)
        self._leave: AsyncScript = client.register_script(LEAVE)
        self._release: AsyncScript = client.register_script(RELEASE)
        self._drop_gateway: AsyncScript = client.register_script(DROP_GATEWAY)

    async def register(self, conn: Connection, nick: str) -> None:
        """Record a new connection and its nickname."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(conn_nick_key(conn.id), nick)
            pipe.sadd(gateway_conns_key(conn.gateway), conn.id)
            pipe.sadd(GATEWAYS_KEY, conn.gateway)
            await pipe.execute()

    async def nick(self, conn: str) -> str | None:
        """Return a connection's nickname, or None if it is not registered."""
        data: bytes | str | None = await self.redis.get(conn_nick_key(conn))
        return None if data is None else _text(data)

    async def join(
        self,
        conn: Connection,
        nick: str,
        room: str,
        max_rooms: int,
        *,
        reserve_for: int | None = None,
    ) -> JoinResult:
        """Add ``conn`` to ``room`` as ``nick``, unless it is already there, another
        connection holds that nickname, it is reserved for a token holder, or ``conn`` is
        in ``max_rooms`` rooms already.

        Args:
            reserve_for: ``conn`` holds a token for ``nick``: reserve the nickname for
                this many seconds, whatever else comes of the join.
        """
        value = Member(conn.id, conn.gateway).encode()
        result: bytes = await self._join(
            keys=[
                members_key(room),
                conn_rooms_key(conn.id),
                ROOMS_KEY,
                NICKS_KEY,
                reserved_key(nick),
            ],
            args=[nick, value, room, max_rooms, time.time(), conn.id, reserve_for or ""],
        )
        outcome = _text(result)
        assert outcome in ("ok", "already", "nick_taken", "nick_reserved", "too_many_rooms")
        return outcome  # type: ignore[return-value]

    async def leave(self, conn: Connection, nick: str, room: str) -> bool:
        """Remove ``conn`` from ``room``; return True if it was there as ``nick``."""
        value = Member(conn.id, conn.gateway).encode()
        removed: int = await self._leave(
            keys=[members_key(room), conn_rooms_key(conn.id), ROOMS_KEY],
            args=[nick, value, room],
        )
        return removed == 1

    async def rooms_of(self, conn: str) -> list[str]:
        """Return the rooms a connection is in, in the order it joined them."""
        rooms = await self.redis.zrange(conn_rooms_key(conn), 0, -1)
        return [_text(room) for room in rooms if isinstance(room, bytes | str)]

    async def is_member(self, conn: str, room: str) -> bool:
        """Return True if a connection is in a room."""
        return await self.redis.zscore(conn_rooms_key(conn), room) is not None

    async def members(self, room: str) -> dict[str, Member]:
        """Return a room's members by nickname."""
        found: dict[bytes | str, bytes | str] = await self.redis.hgetall(members_key(room))
        return {_text(nick): Member.decode(value) for nick, value in found.items()}

    async def member(self, room: str, nick: str) -> Member | None:
        """Return the member of a room with this nickname, or None."""
        value: bytes | str | None = await self.redis.hget(members_key(room), nick)
        return None if value is None else Member.decode(value)

    async def rooms(self) -> list[tuple[str, int]]:
        """Return each room with members, and how many."""
        names = [_text(room) for room in await self.redis.smembers(ROOMS_KEY)]
        async with self.redis.pipeline(transaction=False) as pipe:
            for room in names:
                pipe.hlen(members_key(room))
            counts: list[int] = await pipe.execute()
        return list(zip(names, counts, strict=True))

    async def forget(self, conn: Connection) -> None:
        """Forget a connection that is in no room any more, and free its nickname."""
        await self._release(keys=[NICKS_KEY, conn_nick_key(conn.id)], args=[conn.id])
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(conn_nick_key(conn.id), conn_rooms_key(conn.id))
            pipe.srem(gateway_conns_key(conn.gateway), conn.id)
            await pipe.execute()
        await self._drop_gateway(
            keys=[GATEWAYS_KEY, gateway_conns_key(conn.gateway)], args=[conn.gateway]
        )

    async def gateways(self) -> list[str]:
        """Return the gateways with registered connections."""
        return [_text(gateway) for gateway in await self.redis.smembers(GATEWAYS_KEY)]

    async def connections(self, gateway: str) -> list[Connection]:
        """Return a gateway's registered connections."""
        conns = await self.redis.smembers(gateway_conns_key(gateway))
        return [Connection(id=_text(conn), gateway=gateway) for conn in conns]

    async def is_alive(self, gateway: str) -> bool:
        """Return True if the gateway's alive key is set (docs/BUS.md, "Presence")."""
        return bool(await self.redis.exists(bus.gateway_alive_key(gateway)))
