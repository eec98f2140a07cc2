"""The chat service: one room, ``lobby``, where every client says things to everyone.

Each room event (join, message, leave) is numbered by ``seq``, a Redis counter per room
(``wslab:chat:<room>:seq``), kept in the room's history (``wslab:chat:<room>:history``,
the last ``WSLAB_HISTORY`` events) and published to the room's topic, ``chat.<room>``, all
in one Lua script (:data:`APPEND`): seq order is history order is publish order, however
many chat services share the Redis. A client gets the history when it joins, from the seq
it asks for (``?since=``), and whenever it asks (``{"type": "history"}``). Both survive
restarts of the service. Nicknames are kept in this process's memory, by connection id.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

from redis.commands.core import AsyncScript

import bus
import servicekit
from servicekit import ClientError, Context, Handlers, ServiceSettings, setting

from . import nicknames
from .messages import (
    DEFAULT_ROOM,
    HistoryRequest,
    RoomEvent,
    event_template,
    history,
    parse,
    parse_since,
    resync,
    welcome,
)

__all__ = [
    "APPEND",
    "NAME",
    "ChatHandlers",
    "ChatSettings",
    "history_key",
    "main",
    "seq_key",
    "topic",
]

NAME = "chat"
"""The service's name on the bus: it reads ``wslab:svc:chat``."""

DEFAULT_HISTORY = 100

APPEND = """
local seq = redis.call('INCR', KEYS[1])
local event = ARGV[1] .. string.format('%d', seq) .. ARGV[2]
redis.call('RPUSH', KEYS[2], event)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('PUBLISH', ARGV[4], event)
return seq
"""
"""Numbers, keeps and publishes a room event, atomically.

KEYS: the seq counter, the history list. ARGV: the event's text before and after its seq
(:func:`~chat_service.messages.event_template`), how many events to keep, the channel.
Returns the event's seq.
"""


@dataclass(frozen=True, kw_only=True)
class ChatSettings(ServiceSettings):
    """The common settings, plus the chat's.

    Attributes:
        history: how many events each room keeps for the clients that join or reconnect
            (``WSLAB_HISTORY``).
    """

    history: int = setting(
        "WSLAB_HISTORY", DEFAULT_HISTORY, "room events kept per room, sent to clients that join"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.history < 1:
            raise ValueError("history must be at least 1")


def topic(room: str) -> str:
    """Return the topic of a room's events: ``chat.lobby``."""
    return f"chat.{room}"


def seq_key(room: str) -> str:
    """Return the Redis key counting a room's events: ``wslab:chat:lobby:seq``."""
    return f"wslab:chat:{room}:seq"


def history_key(room: str) -> str:
    """Return the Redis list of a room's last events: ``wslab:chat:lobby:history``."""
    return f"wslab:chat:{room}:history"


class ChatHandlers(Handlers):
    """Welcomes clients to ``lobby``, relays what they say and tells them what they missed.

    Args:
        history: how many events each room keeps.

    Attributes:
        nicks: each connection's nickname, by connection id.
    """

    def __init__(self, history: int = DEFAULT_HISTORY) -> None:
        self.nicks: dict[str, str] = {}
        self.history = history
        self._append: AsyncScript | None = None

    async def on_open(self, ctx: Context) -> None:
        """Welcome the client, subscribe it to the room, announce it, send the history.

        The history is read after the join is published, so it holds everything up to the
        client's own join, even what the gateway, still subscribing, does not deliver live.
        An event published after that read but before the gateway's SUBSCRIBE takes effect
        can still be missed; the client sees the gap in ``seq`` at the next event and asks
        for the history (docs/MESSAGES.md). Events in both are deduplicated by ``seq``.
        """
        nick = self.nicks[ctx.conn.id] = nicknames.choose(ctx.conn.param("nick"))
        await ctx.reply(welcome(nick, DEFAULT_ROOM))
        await ctx.subscribe(topic(DEFAULT_ROOM))
        await self._publish(ctx, "join", DEFAULT_ROOM, nick)
        since = None
        requested = ctx.conn.param("since")
        if requested is not None:
            try:
                since = parse_since(requested)
            except ClientError as exc:  # Still welcome: the client gets the last events.
                await ctx.reply(servicekit.error(exc.code, exc.message))
        await self._send_history(ctx, DEFAULT_ROOM, since)

    async def on_message(self, ctx: Context, text: str) -> None:
        """Say the message in its room, or answer a history request."""
        request = parse(text)
        if request.room != DEFAULT_ROOM:
            raise ClientError(f"no room {request.room!r:.40}; everyone is in {DEFAULT_ROOM!r}")
        if isinstance(request, HistoryRequest):
            await self._send_history(ctx, request.room, request.since)
            return
        nick = self.nicks.get(ctx.conn.id)
        if nick is None:  # Opened before this process started: pick a nickname again.
            nick = self.nicks[ctx.conn.id] = nicknames.choose(ctx.conn.param("nick"))
        await self._publish(ctx, "message", request.room, nick, text=request.text)

    async def on_close(self, ctx: Context) -> None:
        """Announce that the client left, if it has a known nickname, and forget it."""
        nick = self.nicks.pop(ctx.conn.id, None)
        if nick is None:  # Opened before this process started: a chosen nick is known.
            requested = ctx.conn.param("nick")
            if requested is None or not nicknames.is_valid(requested):
                return
            nick = requested
        await self._publish(ctx, "leave", DEFAULT_ROOM, nick)

    async def _publish(
        self, ctx: Context, kind: RoomEvent, room: str, nick: str, text: str | None = None
    ) -> int:
        """Number, keep and publish a room event (:data:`APPEND`); return its seq."""
        # The JSON is made here, all but the seq, which the script fills in: cjson would
        # round ts to 14 significant digits and lose the order of the keys.
        before, after = event_template(kind, room=room, nick=nick, ts=time.time(), text=text)
        if self._append is None:
            self._append = ctx.redis.register_script(APPEND)
        channel = bus.topic_channel(topic(room))
        seq: int = await self._append(
            keys=[seq_key(room), history_key(room)],
            args=[before, after, self.history, channel],
            client=ctx.redis,
        )
        ctx.outbox.logger.debug("> topic %s %s %d", topic(room), kind, seq)
        return seq

    async def _send_history(self, ctx: Context, room: str, since: int | None) -> None:
        """Send the room's kept events after ``since``, or all of them if None.

        A ``resync`` notice comes first if some events after ``since`` are no longer kept.
        """
        kept: list[bytes | str] = await ctx.redis.lrange(history_key(room), 0, -1)
        texts = [data.decode() if isinstance(data, bytes) else data for data in kept]
        events = [(json.loads(text)["seq"], text) for text in texts]
        if since is not None:
            if events and events[0][0] > since + 1:
                await ctx.reply(resync(room, events[0][0]))
            events = [(seq, data) for seq, data in events if seq > since]
        await ctx.reply(history(room, [data for _, data in events]))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chat service: ``python -m chat_service [--help]``; return the exit status."""
    return servicekit.main(
        NAME,
        lambda settings: ChatHandlers(history=settings.history),
        settings_cls=ChatSettings,
        prog="python -m chat_service",
        description="The wslab chat service: one room, lobby, on the Redis bus.",
        argv=argv,
    )
