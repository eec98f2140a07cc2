"""The chat service: one room, ``lobby``, where every client says things to everyone.

Each room event (join, message, leave) is published to the room's topic, ``chat.<room>``,
numbered by ``seq``, a Redis counter per room (``wslab:chat:<room>:seq``), which survives
restarts of the service. Nicknames are kept in this process's memory, by connection id.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import servicekit
from servicekit import ClientError, Context, Handlers, Outbox, ServiceSettings

from . import nicknames
from .messages import DEFAULT_ROOM, RoomEvent, parse, room_event, welcome

__all__ = ["NAME", "ChatHandlers", "main", "seq_key", "topic"]

NAME = "chat"
"""The service's name on the bus: it reads ``wslab:svc:chat``."""


def topic(room: str) -> str:
    """Return the topic of a room's events: ``chat.lobby``."""
    return f"chat.{room}"


def seq_key(room: str) -> str:
    """Return the Redis key counting a room's events: ``wslab:chat:lobby:seq``."""
    return f"wslab:chat:{room}:seq"


class ChatHandlers(Handlers):
    """Welcomes clients to ``lobby`` and relays what they say.

    Attributes:
        nicks: each connection's nickname, by connection id.
    """

    def __init__(self) -> None:
        self.nicks: dict[str, str] = {}

    async def on_open(self, ctx: Context) -> None:
        """Choose the nickname, welcome the client, subscribe it to the room, announce it."""
        nick = self.nicks[ctx.conn.id] = nicknames.choose(ctx.conn.param("nick"))
        await ctx.reply(welcome(nick, DEFAULT_ROOM))
        await ctx.subscribe(topic(DEFAULT_ROOM))
        await self._publish(ctx.outbox, "join", DEFAULT_ROOM, nick)

    async def on_message(self, ctx: Context, text: str) -> None:
        """Say the message in its room."""
        say = parse(text)
        if say.room != DEFAULT_ROOM:
            raise ClientError(f"no room {say.room!r:.40}; everyone is in {DEFAULT_ROOM!r}")
        nick = self.nicks.get(ctx.conn.id)
        if nick is None:  # Opened before this process started: pick a nickname again.
            nick = self.nicks[ctx.conn.id] = nicknames.choose(ctx.conn.param("nick"))
        await self._publish(ctx.outbox, "message", say.room, nick, text=say.text)

    async def on_close(self, ctx: Context) -> None:
        """Announce that the client left, if it has a known nickname, and forget it."""
        nick = self.nicks.pop(ctx.conn.id, None)
        if nick is None:  # Opened before this process started: a chosen nick is known.
            requested = ctx.conn.param("nick")
            if requested is None or not nicknames.is_valid(requested):
                return
            nick = requested
        await self._publish(ctx.outbox, "leave", DEFAULT_ROOM, nick)

    async def _publish(
        self, outbox: Outbox, kind: RoomEvent, room: str, nick: str, text: str | None = None
    ) -> None:
        seq = await outbox.redis.incr(seq_key(room))
        event = room_event(kind, room=room, nick=nick, seq=seq, ts=time.time(), text=text)
        await outbox.publish(topic(room), event)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chat service: ``python -m chat_service [--help]``; return the exit status."""
    return servicekit.main(
        NAME,
        lambda settings: ChatHandlers(),
        settings_cls=ServiceSettings,
        prog="python -m chat_service",
        description="The wslab chat service: one room, lobby, on the Redis bus.",
        argv=argv,
    )
