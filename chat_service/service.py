"""The chat service: rooms that clients join, leave and talk in (docs/MESSAGES.md, "Chat").

Each room event (join, message, leave) is numbered by ``seq``, a Redis counter per room
(``wslab:chat:<room>:seq``), kept in the room's history (``wslab:chat:<room>:history``,
the last ``WSLAB_HISTORY`` events) and published to the room's topic, ``chat.<room>``, all
in one Lua script (:data:`APPEND`; :data:`SAY` for a line, which its speaker gets on its
gateway's command channel instead): seq order is history order is publish order, however
many chat services share the Redis. A client gets the history when it joins, from the seq
it asks for (``?since=``), and whenever it asks (``{"type": "history"}``). Both survive
restarts of the service.

Who is in which room, and each connection's nickname, are kept in Redis too
(:mod:`chat_service.presence`), so that a restarted or second chat service sees the same
rooms. A gateway that dies cannot say that its connections closed: the sweeper
(:meth:`ChatHandlers.background`) removes, every ``WSLAB_SWEEP_INTERVAL`` seconds, the
members of gateways whose alive key (``wslab:gw:<id>:alive``) has expired, announcing a
``leave`` for each.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

import bus
import servicekit
from servicekit import (
    BAD_REQUEST,
    ClientError,
    Connection,
    Context,
    Handlers,
    Outbox,
    RateLimits,
    ServiceSettings,
    error,
    setting,
)
from servicekit.limits import DEFAULT_BURST, DEFAULT_RATE

from . import nicknames
from .keys import (
    conn_nick_key,
    conn_rooms_key,
    event_key,
    history_key,
    seq_key,
    topic,
)
from .locking import SharedLock
from .messages import (
    DEFAULT_ROOM,
    FORBIDDEN,
    ROOM_NAME,
    HistoryRequest,
    Join,
    Leave,
    Private,
    RoomsRequest,
    Say,
    event_template,
    history,
    is_valid_room,
    may_enter,
    members,
    parse,
    parse_since,
    private,
    resync,
    rooms,
    welcome,
)
from .presence import Presence

__all__ = [
    "APPEND",
    "NAME",
    "ChatHandlers",
    "ChatSettings",
    "main",
]

NAME = "chat"
"""The service's name on the bus: it reads ``wslab:svc:chat``."""

logger = logging.getLogger(f"wslab.{NAME}")

DEFAULT_HISTORY = 100
DEFAULT_MAX_TEXT = 2000
DEFAULT_MAX_ROOMS = 10
DEFAULT_SWEEP_INTERVAL = 5.0
DEFAULT_EVENT_TTL = 60
DEFAULT_ROOM_TTL = 7 * 24 * 3600

APPEND = """
if KEYS[3] then
  local made = redis.call('GET', KEYS[3])
  if made then return tonumber(made) end
end
local seq = redis.call('INCR', KEYS[1])
local event = ARGV[1] .. string.format('%d', seq) .. ARGV[2]
redis.call('RPUSH', KEYS[2], event)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[6])
redis.call('PUBLISH', ARGV[4], event)
if KEYS[3] then redis.call('SET', KEYS[3], seq, 'EX', ARGV[5]) end
return seq
"""
"""Numbers, keeps and publishes a room event, atomically, once per envelope.

KEYS: the seq counter, the history list, and the key recording the event made by the
envelope being handled (:func:`~chat_service.keys.event_key`), unless no envelope made it.
ARGV: the event's text before and after its seq (:func:`~chat_service.messages.event_template`),
how many events to keep, the channel, how long to record the event, how long the room's seq
and history last without a new event (:attr:`ChatSettings.room_ttl`). Returns the event's
seq. An envelope handled again, by the replica that took its connection over from one that
died handling it (docs/ARCHITECTURE.md, "Service replicas"), gets the seq of the event it
made the first time, and nothing is published twice.
"""


SAY = """
local made = redis.call('GET', KEYS[5])
if made then return tonumber(made) end
local nick = redis.call('GET', KEYS[1])
if not nick then return 'unknown' end
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 'not_member' end
local seq = redis.call('INCR', KEYS[3])
local event = ARGV[2] .. nick .. ARGV[3] .. string.format('%d', seq) .. ARGV[4]
redis.call('RPUSH', KEYS[4], event)
redis.call('LTRIM', KEYS[4], -tonumber(ARGV[5]), -1)
redis.call('EXPIRE', KEYS[3], ARGV[12])
redis.call('EXPIRE', KEYS[4], ARGV[12])
redis.call('PUBLISH', ARGV[8], ARGV[9] .. cjson.encode(event) .. ARGV[10])
redis.call('PUBLISH', ARGV[6], ARGV[7] .. event)
redis.call('SET', KEYS[5], seq, 'EX', ARGV[11])
return seq
"""
"""Says a line in a room in one round trip: checks the speaker, then numbers, keeps and
publishes the ``message`` event, atomically, once per envelope (as :data:`APPEND` does:
an envelope handled again gets its event's seq, even if the speaker has left since).

The speaker gets its line from the script, as a ``send`` command on its gateway's channel,
and the room's topic skips it (:func:`bus.skipping`): so the line reaches it in order with
the service's other answers to it, even while its gateway, new to the room, is still
subscribing to the topic, and then at most once.

KEYS: the connection's nickname and rooms, the room's seq counter and history list, the
key recording the event the envelope made. ARGV: the room; the event's text before the
nickname, between the nickname and the seq, and after the seq
(:func:`~chat_service.messages.event_template` around :data:`NICK`); how many events to
keep; the topic's channel and the prefix that skips the speaker; the speaker's command
channel and its ``send`` command before and after the payload, the event as a JSON string
(:func:`_to_speaker`); how long to record the event; how long the room lasts idle. Returns
the event's seq, ``'unknown'`` if the connection has no nickname (Redis lost it), or
``'not_member'``.
"""

#: Where the nickname goes in a ``message`` event's template, spliced in by :data:`SAY`:
#: nicknames use letters, digits, ``_`` and ``-`` only, so JSON needs no escape for them.
NICK = "\x00nick\x00"
_NICK_IN_JSON = json.dumps(NICK)[1:-1]


@functools.lru_cache(maxsize=4096)
def _to_speaker(conn: str) -> tuple[str, str, bytes]:
    """What :data:`SAY` needs to send a line to ``conn``, its speaker, alone: the ``send``
    command to it, before and after its payload, and the prefix of the topic message that
    skips it. Kept for the connections that speak most: made anew for each line, they took
    a twentieth of the service's time at saturation (docs/PERFORMANCE.md, "Chat service at
    saturation")."""
    marker = "\x00payload\x00"
    command = bus.encode_command(bus.Send(conn=conn, payload=marker)).decode()
    before, found, after = command.rpartition(json.dumps(marker))  # Only "binary" follows.
    assert found, command
    return before, after, bus.skipping([conn])


def _not_member(room: str) -> ClientError:
    return ClientError(f"you are not in {room!r}; join it first", code="not_member")


@dataclass(frozen=True, kw_only=True)
class ChatSettings(ServiceSettings):
    """The common settings, plus the chat's.

    Attributes:
        history: how many events each room keeps for the clients that join or reconnect
            (``WSLAB_HISTORY``).
        max_text: the longest text a client may say, in characters (``WSLAB_MAX_TEXT``).
        max_rooms: how many rooms a connection may be in at once (``WSLAB_MAX_ROOMS``).
        sweep_interval: seconds between two sweeps for the members of dead gateways
            (``WSLAB_SWEEP_INTERVAL``).
        room_ttl: seconds a room's history and seq last after its last event
            (``WSLAB_ROOM_TTL``): an abandoned room does not stay in Redis forever.
    """

    history: int = setting(
        "WSLAB_HISTORY", DEFAULT_HISTORY, "room events kept per room, sent to clients that join"
    )
    max_text: int = setting(
        "WSLAB_MAX_TEXT", DEFAULT_MAX_TEXT, "the longest text a client may say, in characters"
    )
    max_rooms: int = setting(
        "WSLAB_MAX_ROOMS", DEFAULT_MAX_ROOMS, "rooms a connection may be in at once"
    )
    sweep_interval: float = setting(
        "WSLAB_SWEEP_INTERVAL",
        DEFAULT_SWEEP_INTERVAL,
        "seconds between two sweeps for the members of dead gateways",
    )
    room_ttl: int = setting(
        "WSLAB_ROOM_TTL",
        DEFAULT_ROOM_TTL,
        "seconds a room's history and seq last after its last event",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.history < 1:
            raise ValueError("history must be at least 1")
        for name in ("max_text", "max_rooms", "room_ttl"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', ' ')} must be at least 1")
        for name in ("sweep_interval",):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name.replace('_', ' ')} must be positive")


class ChatHandlers(Handlers):
    """Rooms: joins, leaves, messages, private messages, history, and the limits.

    Args:
        history: how many events each room keeps.
        max_text: the longest text a client may say.
        rate: the messages per second a connection may send, on average.
        burst: how many it may send at once.
        max_rooms: how many rooms a connection may be in.
        sweep_interval: seconds between two sweeps for the members of dead gateways.
        event_ttl: seconds the room event each envelope made is remembered, so that an
            envelope handled twice makes it once (:data:`APPEND`).
        room_ttl: seconds a room's history and seq last after its last event.

    Attributes:
        limits: each connection's rate limit (servicekit.RateLimits); full buckets are
            dropped at each sweep.
    """

    def __init__(
        self,
        history: int = DEFAULT_HISTORY,
        *,
        max_text: int = DEFAULT_MAX_TEXT,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
        max_rooms: int = DEFAULT_MAX_ROOMS,
        sweep_interval: float = DEFAULT_SWEEP_INTERVAL,
        event_ttl: int = DEFAULT_EVENT_TTL,
        room_ttl: int = DEFAULT_ROOM_TTL,
    ) -> None:
        self.history = history
        self.max_text = max_text
        self.limits = RateLimits(rate, burst)
        self.max_rooms = max_rooms
        self.sweep_interval = sweep_interval
        self.event_ttl = event_ttl
        self.room_ttl = room_ttl
        self._append: AsyncScript | None = None
        self._say: AsyncScript | None = None
        self._presence: Presence | None = None
        # Handlers share it, each for its own connection; the sweeper holds it alone, so
        # that a connection is never forgotten half-way through joining a room.
        self._lock = SharedLock()

    @classmethod
    def from_settings(cls, settings: ChatSettings) -> ChatHandlers:
        """Return handlers with the limits of ``settings``."""
        return cls(
            settings.history,
            max_text=settings.max_text,
            rate=settings.rate,
            burst=settings.burst,
            max_rooms=settings.max_rooms,
            sweep_interval=settings.sweep_interval,
            # An envelope is handled again by the replica that takes its partition over from
            # one that died before recording it: a lease and a period later, if a replica
            # is running; remembering its event for twenty leases is plenty.
            event_ttl=math.ceil(20 * settings.lease),
            room_ttl=settings.room_ttl,
        )

    def presence(self, client: Redis) -> Presence:
        """Return the rooms and members kept in Redis, through ``client``."""
        if self._presence is None or self._presence.redis is not client:
            self._presence = Presence(client)
        return self._presence

    async def on_open(self, ctx: Context) -> None:
        """See :meth:`_open`."""
        async with self._lock.shared():
            await self._open(ctx)

    async def on_message(self, ctx: Context, text: str) -> None:
        """See :meth:`_message`."""
        async with self._lock.shared():
            await self._message(ctx, text)

    async def on_close(self, ctx: Context) -> None:
        """Leave every room the client was in, announcing each ``leave``, and forget it."""
        async with self._lock.shared():
            self.limits.forget(ctx.conn.id)
            await self._leave_all(ctx.redis, ctx.conn, ctx.envelope)

    async def _open(self, ctx: Context) -> None:
        """Welcome the client and join it to the room of its query (``lobby`` by default).

        A ``room`` that is not a valid name gets a ``bad_request`` error and the client
        joins ``lobby``; a nickname another connection holds (or reserved for a token holder)
        gets ``nick_taken`` and the client is in no room.
        """
        nick = self._nick(ctx)
        await self.presence(ctx.redis).register(ctx.conn, nick)
        room = ctx.conn.param("room")
        if room is None or not is_valid_room(room):
            await ctx.reply(welcome(nick, DEFAULT_ROOM))
            if room is not None:
                await ctx.reply(error(BAD_REQUEST, ROOM_NAME))
            room = DEFAULT_ROOM
        else:
            await ctx.reply(welcome(nick, room))
        since = None
        requested = ctx.conn.param("since")
        since_error = None
        if requested is not None:
            try:
                since = parse_since(requested)
            except ClientError as exc:  # Still joins: the client gets the last events.
                since_error = exc
        try:
            await self._join(ctx, nick, room, since, since_error)
        except ClientError as exc:  # nick_taken, forbidden: welcome, but in no room.
            await ctx.reply(error(exc.code, exc.message))

    @staticmethod
    def _nick(ctx: Context) -> str:
        """The connection's nickname: its token's subject, else what its query asks for
        if that is a nickname, else a guest's."""
        return ctx.envelope.user or nicknames.choose(ctx.conn.param("nick"))

    async def _message(self, ctx: Context, text: str) -> None:
        """Check the limits, then carry out the client's request."""
        self.limits.check(ctx.conn.id, ctx.envelope.received_at)
        request = parse(text)
        if isinstance(request, Say) and request.room is not None:
            self._check_length(request.text)
            if await self._say_in(ctx, request.room, request.text):
                return
        presence = self.presence(ctx.redis)
        nick = await presence.nick(ctx.conn.id)
        if nick is None:
            nick = await self._recover(ctx)
        match request:
            case Join(room=room):
                await self._join(ctx, nick, room, None)
            case Leave(room=room):
                if not await presence.leave(ctx.conn, nick, room):
                    raise ClientError(f"you are not in {room!r}", code="not_member")
                await self._publish(ctx.redis, "leave", room, nick, envelope=ctx.envelope)
                await ctx.unsubscribe(topic(room))
            case RoomsRequest():
                await ctx.reply(rooms(await presence.rooms()))
            case HistoryRequest(room=room, since=since):
                room = await self._member_room(ctx, room)
                await self._send_history(ctx, room, since)
            case Say(room=room, text=said):
                self._check_length(said)
                room = await self._member_room(ctx, room)
                if not await self._say_in(ctx, room, said):  # Forgotten again since.
                    raise _not_member(room)
            case Private(room=room, to=to, text=said):
                self._check_length(said)
                room = await self._member_room(ctx, room)
                member = await presence.member(room, to)
                if member is None:
                    raise ClientError(
                        f"nobody is called {to!r:.40} in {room!r}", code="no_such_member"
                    )
                message = private(room=room, sender=nick, to=to, text=said, ts=time.time())
                await ctx.outbox.send(Connection(id=member.conn, gateway=member.gateway), message)
                if member.conn != ctx.conn.id:
                    await ctx.reply(message)

    async def _recover(self, ctx: Context) -> str:
        """Register a connection Redis does not know, and join it to its query's room.

        Its open was lost, or Redis lost its state (it keeps none on disk in the compose
        file): the connection gets its query's nickname (or a new guest name) and, unless
        the nickname is taken there, its query's room, as on connecting but for ``welcome``.
        Return its nickname.
        """
        nick = self._nick(ctx)
        await self.presence(ctx.redis).register(ctx.conn, nick)
        room = ctx.conn.param("room")
        with contextlib.suppress(ClientError):  # nick_taken: it is in no room.
            await self._join(
                ctx, nick, DEFAULT_ROOM if room is None or not is_valid_room(room) else room, None
            )
        return nick

    async def background(self, outbox: Outbox) -> None:
        """Sweep every ``sweep_interval`` seconds; a failed sweep is logged and retried.

        Each sweep also drops the full rate-limit buckets.
        """
        while True:
            await asyncio.sleep(self.sweep_interval)
            self.limits.drop_full()
            try:
                await self.sweep(outbox.redis)
            except Exception as exc:  # Redis is down, say: the next sweep will do.
                outbox.logger.warning("! sweep failed: %s", exc)

    async def sweep(self, client: Redis) -> int:
        """Remove the connections of gateways whose alive key has expired.

        Each leaves its rooms, with a ``leave`` announced, as if it had closed.

        Returns:
            How many connections were removed.
        """
        presence = self.presence(client)
        removed = 0
        for gateway in await presence.gateways():
            if await presence.is_alive(gateway):
                continue
            async with self._lock.exclusive():
                conns = await presence.connections(gateway)
                for conn in conns:
                    self.limits.forget(conn.id)
                    await self._leave_all(client, conn)
            logger.info("= gateway %s is gone: removed its %d connections", gateway, len(conns))
            removed += len(conns)
        return removed

    async def _join(
        self,
        ctx: Context,
        nick: str,
        room: str,
        since: int | None,
        since_error: ClientError | None = None,
    ) -> None:
        """Join ``room``: subscribe, announce it, send the history and the members.

        The history is read after the join is published, so it holds everything up to the
        client's own join, even what the gateway, still subscribing, does not deliver live.
        An event published after that read but before the gateway's SUBSCRIBE takes effect
        can still be missed; the client sees the gap in ``seq`` at the next event and asks
        for the history (docs/MESSAGES.md). Events in both are deduplicated by ``seq``.

        Raises:
            ClientError: ``forbidden``, ``nick_taken`` (another live connection holds the
                nickname, in any room, or it is reserved for a token holder: each join of
                theirs reserves it for ``room_ttl``), ``too_many_rooms``, or already in the
                room.
        """
        if not may_enter(room, ctx.envelope.rooms):
            raise ClientError(f"your token does not let you into {room!r}", code=FORBIDDEN)
        presence = self.presence(ctx.redis)
        reserve_for = self.room_ttl if ctx.envelope.user else None
        match await presence.join(ctx.conn, nick, room, self.max_rooms, reserve_for=reserve_for):
            case "already":
                raise ClientError(f"you are already in {room!r}")
            case "nick_taken":
                raise ClientError(f"someone else is called {nick!r}", code="nick_taken")
            case "nick_reserved":
                raise ClientError(f"{nick!r} is reserved for its token's holder", code="nick_taken")
            case "too_many_rooms":
                raise ClientError(
                    f"you are in {self.max_rooms} rooms already; leave one first",
                    code="too_many_rooms",
                )
        await ctx.subscribe(topic(room))
        await self._publish(ctx.redis, "join", room, nick, envelope=ctx.envelope)
        if since_error is not None:
            await ctx.reply(error(since_error.code, since_error.message))
        await self._send_history(ctx, room, since)
        await ctx.reply(members(room, await presence.members(room)))

    async def _member_room(self, ctx: Context, room: str | None) -> str:
        """Return ``room``, or the connection's first room if None, if it is a member."""
        presence = self.presence(ctx.redis)
        if room is None:
            joined = await presence.rooms_of(ctx.conn.id)
            if not joined:
                raise ClientError("you are in no room; join one first", code="not_member")
            return joined[0]
        if not await presence.is_member(ctx.conn.id, room):
            raise _not_member(room)
        return room

    def _check_length(self, text: str) -> None:
        if len(text) > self.max_text:
            raise ClientError(
                f"texts are at most {self.max_text} characters; this one was not said",
                code="too_long",
            )

    async def _say_in(self, ctx: Context, room: str, text: str) -> bool:
        """Say ``text`` in ``room`` in one round trip (:data:`SAY`); False if Redis does not
        know the connection, which the caller then registers again."""
        before, after = event_template("message", room=room, nick=NICK, ts=time.time(), text=text)
        head, found, middle = before.partition(_NICK_IN_JSON)
        assert found, before
        send_before, send_after, skip = _to_speaker(ctx.conn.id)
        if self._say is None:
            self._say = ctx.redis.register_script(SAY)
        keys = [conn_nick_key(ctx.conn.id), conn_rooms_key(ctx.conn.id)]
        keys += [seq_key(room), history_key(room)]
        keys.append(event_key(ctx.envelope.conn, ctx.envelope.seq, "message", room))
        args: list[str | bytes | int] = [
            *(room, head, middle, after, self.history),
            *(bus.topic_channel(topic(room)), skip),
            *(bus.command_channel(ctx.conn.gateway, ctx.outbox.service), send_before, send_after),
            *(self.event_ttl, self.room_ttl),
        ]
        # In the outbox's pipeline: the lines of a batch, said together, cost one round
        # trip, and each speaker's line keeps its place among the answers to it.
        result = await ctx.outbox.publisher.run(self._say, keys, args)
        if result == b"not_member":
            raise _not_member(room)
        if result == b"unknown":
            return False
        logger.debug("> topic %s message %d", topic(room), result)
        return True

    async def _leave_all(
        self, client: Redis, conn: Connection, envelope: bus.Envelope | None = None
    ) -> None:
        """Leave every room ``conn`` is in, announcing each ``leave``, and forget it.

        ``envelope`` is its ``close``, unless the sweeper found it gone.
        """
        presence = self.presence(client)
        leaves: list[tuple[str, str]] = []  # (room, nick)
        if (nick := await presence.nick(conn.id)) is not None:
            for room in await presence.rooms_of(conn.id):
                if await presence.leave(conn, nick, room):
                    leaves.append((room, nick))
        # The nickname is free before anyone hears the leaves: one who heard may take it.
        await presence.forget(conn)
        for room, nick in leaves:
            await self._publish(client, "leave", room, nick, envelope=envelope)

    async def _publish(
        self,
        client: Redis,
        kind: Literal["join", "leave"],
        room: str,
        nick: str,
        *,
        envelope: bus.Envelope | None,
    ) -> int:
        """Number, keep and publish a ``join`` or ``leave`` (:data:`APPEND`); return its seq.

        ``envelope`` is the one being handled, if any: it makes the event at most once.
        """
        # The JSON is made here, all but the seq, which the script fills in: cjson would
        # round ts to 14 significant digits and lose the order of the keys.
        before, after = event_template(kind, room=room, nick=nick, ts=time.time())
        if self._append is None:
            self._append = client.register_script(APPEND)
        channel = bus.topic_channel(topic(room))
        keys = [seq_key(room), history_key(room)]
        if envelope is not None:
            keys.append(event_key(envelope.conn, envelope.seq, kind, room))
        seq: int = await self._append(
            keys=keys,
            args=[before, after, self.history, channel, self.event_ttl, self.room_ttl],
            client=client,
        )
        logger.debug("> topic %s %s %d", topic(room), kind, seq)
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
        ChatHandlers.from_settings,
        settings_cls=ChatSettings,
        prog="python -m chat_service",
        description="The wslab chat service: rooms, presence and limits, on the Redis bus.",
        argv=argv,
    )
