"""Publishing on Redis in batches, through a fixed number of connections.

Each ``PUBLISH`` awaited on its own takes a connection of redis-py's pool for its round trip,
and the asyncio pool refuses a connection past its cap (100) instead of waiting: a burst of
clients made the gateway report "the message bus is unreachable" while Redis was healthy.
:class:`Publisher` instead gathers what is asked in one event-loop turn into one pipeline
("smart batching", as Centrifugo's Redis engine does), one pipeline at a time, so a burst
waits its turn in memory, costs a few round trips and holds one connection.
An error means Redis is really unreachable (docs/BUS.md, "Publishing"). Besides ``PUBLISH``,
the batches carry any command or Lua script whose order matters with the publishes: a
gateway's envelopes, a service's record of what it handled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

from .tasks import cancel_and_wait

__all__ = ["Overloaded", "Publisher"]


class Overloaded(Exception):
    """Too many messages wait to be published: this one was refused, not queued."""


Argument = bytes | str | int | float


@dataclass(frozen=True)
class _Pending:
    command: tuple[Argument, ...]
    future: asyncio.Future[Any]
    #: The script ``command`` runs (``EVALSHA``), for the pipeline to load it if need be.
    script: AsyncScript | None = None


class Publisher:
    """Publishes messages on Redis channels, and runs commands, batched per event-loop turn.

    Args:
        client: the Redis client; the publisher uses one of its pool's connections at a
            time.
        max_batch: the most messages in one pipeline.
        max_waiting: the most messages waiting for their pipeline; past it, a publish fails
            at once with :class:`Overloaded`, so that a Redis slower than the load never
            makes the wait, or the memory, grow without end.
    """

    def __init__(self, client: Redis, *, max_batch: int = 1000, max_waiting: int = 100_000) -> None:
        if max_batch < 1 or max_waiting < 1:
            raise ValueError("max_batch and max_waiting must be at least 1")
        self.client = client
        self.max_batch = max_batch
        self.max_waiting = max_waiting
        self._pending: list[_Pending] = []
        self._scheduled = False
        # The scripts Redis is known to hold: a pipeline loads the others first.
        self._loaded: set[str] = set()
        # The pipeline awaiting Redis's answer: one at a time keeps the messages in order.
        self._in_flight: asyncio.Task[None] | None = None

    def publish(self, channel: str, data: bytes | str) -> asyncio.Future[int]:
        """Publish ``data`` on ``channel`` with the next batch.

        Returns:
            A future of the number of subscribers that received it (``PUBLISH``'s answer),
            or of the :class:`~redis.exceptions.RedisError` that kept it from Redis, or of
            :class:`Overloaded` if ``max_waiting`` messages wait already. Messages are
            published in the order of the calls, one pipeline after the other.
        """
        return self.command("PUBLISH", channel, data)

    def command(self, *command: Argument) -> asyncio.Future[Any]:
        """Send a Redis command with the next batch, in order with the publishes: a future
        of its answer, failing as :meth:`publish`'s does."""
        return self._enqueue(_Pending(command, self._future()))

    def run(
        self, script: AsyncScript, keys: Sequence[str], args: Sequence[Argument]
    ) -> asyncio.Future[Any]:
        """Run a Lua script with the next batch, in order with the publishes: a future of
        its answer, failing as :meth:`publish`'s does. The script is loaded into Redis with
        the first batch that needs it, and again if Redis forgot it (a restart)."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        return self._enqueue(_Pending(command, self._future(), script))

    @property
    def waiting(self) -> int:
        """Messages not yet sent to Redis."""
        return len(self._pending)

    async def aclose(self) -> None:
        """Stop: what is on its way is cancelled, and what waits fails."""
        if self._in_flight is not None:
            await cancel_and_wait({self._in_flight})
        pending, self._pending = self._pending, []
        for message in pending:
            if not message.future.done():
                message.future.set_exception(RedisError("the publisher was closed"))

    def _future(self) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    def _enqueue(self, pending: _Pending) -> asyncio.Future[Any]:
        if len(self._pending) >= self.max_waiting:
            waiting = f"{len(self._pending)} messages wait to be published"
            pending.future.set_exception(Overloaded(waiting))
        else:
            self._pending.append(pending)
            self._schedule()
        return pending.future

    def _schedule(self) -> None:
        # Once per turn: everything asked until the callback runs goes in the same batch.
        if self._scheduled or not self._pending or self._in_flight is not None:
            return
        self._scheduled = True
        asyncio.get_running_loop().call_soon(self._send_batch)

    def _send_batch(self) -> None:
        self._scheduled = False
        if not self._pending or self._in_flight is not None:
            return
        batch = self._pending[: self.max_batch]
        del self._pending[: self.max_batch]
        self._in_flight = asyncio.get_running_loop().create_task(self._execute(batch))
        self._in_flight.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight = None
        self._schedule()

    async def _execute(self, batch: list[_Pending]) -> None:
        pipe = self.client.pipeline(transaction=False)
        # What the pipeline loads before the batch runs (redis-py types it as holding its
        # synchronous scripts; its asyncio pipeline holds and loads AsyncScript).
        loading: set[Any] = pipe.scripts
        for message in batch:
            if message.script is not None and message.script.sha not in self._loaded:
                loading.add(message.script)
            pipe.execute_command(*message.command)
        # Whatever happens (cancelled at shutdown, a bug), nobody waits forever.
        results: list[Any] = [RedisError("no answer from Redis: publishing stopped")] * len(batch)
        try:
            results = await pipe.execute(raise_on_error=False)
            self._loaded |= {script.sha for script in loading}
        except RedisError as exc:
            results = [exc] * len(batch)
        finally:
            forgotten: list[_Pending] = []
            for message, result in zip(batch, results, strict=True):
                if message.future.done():
                    continue  # Its caller gave up waiting.
                script = message.script
                if isinstance(result, NoScriptError) and script and script not in loading:
                    # Redis restarted since the script was loaded: load it and run it again.
                    self._loaded.discard(script.sha)
                    forgotten.append(message)
                elif isinstance(result, BaseException):
                    message.future.set_exception(result)
                else:
                    message.future.set_result(result)
            self._pending[:0] = forgotten
