"""Staying connected, for the commands that talk to the gateway's services until the person
quits: ``wslab chat`` and ``wslab quotes``.

Each holds a :class:`Conversation`: where to connect and what to send to carry on, and what
to do once connected. :func:`stay_connected` runs it; when the connection drops, it opens a
new one after a jittered, growing delay (:func:`backoff`) and the conversation resumes.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import contextlib
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from wsdraft import Closed

from ..connection import Connection
from ..exceptions import ConnectionClosed
from .base import CommandError, ExitStatus
from .options import ConnectionOptions, open_connection

__all__ = [
    "Conversation",
    "Drop",
    "Resume",
    "add_reconnect_option",
    "backoff",
    "open_resumed",
    "stay_connected",
]

Resume = tuple[str, list[dict[str, object]]]
"""Where to connect, and the messages to send once connected, to carry a conversation on."""


def add_reconnect_option(parser: argparse.ArgumentParser) -> None:
    """Declare ``--no-reconnect``, the ``no_reconnect`` option of :func:`stay_connected`."""
    parser.add_argument(
        "--no-reconnect",
        action="store_true",
        help="exit when the connection drops instead of reconnecting",
    )


def backoff(
    initial: float = 0.5, cap: float = 10.0, rand: Callable[[], float] = random.random
) -> Iterator[float]:
    """Delays before each reconnection: doubling from ``initial`` up to ``cap``, each one
    jittered down by up to half so that clients dropped together come back spread out."""
    delay = initial
    while True:
        yield delay * (1 - rand() / 2)
        delay = min(cap, delay * 2)


@dataclass(frozen=True)
class Drop:
    """Why a conversation's connection ended without the person quitting.

    Attributes:
        reason: what to show, such as ``connection closed by the server``.
        failed: a failure, rather than a clean end: with ``--no-reconnect``, the command
            exits 1 with ``reason``.
        refused: the service turned the conversation away (it is unavailable): the next
            reconnection waits longer than the last one did, instead of starting the
            delays over as after a connection that worked.
    """

    reason: str
    failed: bool
    refused: bool = False

    @classmethod
    def of(cls, closed: Closed) -> Drop:
        """How the connection that ended with ``closed`` dropped."""
        if closed.error is not None:
            return cls(f"connection failed: {closed.error}", failed=True)
        return cls("connection closed by the server", failed=False)


class Conversation(abc.ABC):
    """What a command does over a connection that it reopens when it drops."""

    @abc.abstractmethod
    def resume(self) -> Resume:
        """Where to connect and what to send, to carry on where the last connection ended."""

    @abc.abstractmethod
    async def converse(self, ws: Connection) -> Drop | None:
        """Talk over ``ws`` until it drops (return why) or the person quits (close it,
        return None)."""

    @abc.abstractmethod
    def note(self, line: str) -> None:
        """Show a line from the command itself: the connection dropped, reconnecting..."""

    async def quits_before(self, task: asyncio.Future[Any]) -> bool:
        """Wait for ``task``; return True, having cancelled it, if the person quits first.

        By default the person quits with Ctrl-C only, which ends the command anyway.
        """
        await asyncio.wait((task,))
        return False


async def open_resumed(resume: Resume, options: ConnectionOptions) -> Connection:
    """Open a connection where ``resume`` says and send its messages.

    Raises:
        CommandError: the connection cannot be opened (see :func:`open_connection`).
    """
    url, messages = resume
    ws = await open_connection(url, options)
    with contextlib.suppress(ConnectionClosed):  # The conversation sees it and reconnects.
        for message in messages:
            await ws.send(json.dumps(message))
    return ws


async def stay_connected(
    conversation: Conversation,
    ws: Connection,
    options: ConnectionOptions,
    *,
    no_reconnect: bool,
) -> ExitStatus:
    """Run ``conversation`` over ``ws``, then over a new connection each time one drops,
    until the person quits; with ``no_reconnect``, until the first drop.

    Raises:
        CommandError: with ``no_reconnect``, the connection failed.
    """
    delays = backoff()
    while True:
        drop = await conversation.converse(ws)
        if drop is None:  # The person quit.
            return ExitStatus.SUCCESS
        if no_reconnect:
            if drop.failed:
                raise CommandError(ExitStatus.ERROR, drop.reason)
            return ExitStatus.SUCCESS
        conversation.note(f"* {drop.reason}")
        if not drop.refused:
            delays = backoff()
        reopened = await _reconnect(conversation, delays, options)
        if reopened is None:
            return ExitStatus.SUCCESS
        ws = reopened
        conversation.note("* reconnected")


async def _reconnect(
    conversation: Conversation, delays: Iterator[float], options: ConnectionOptions
) -> Connection | None:
    """Open a new connection that resumes the conversation, after each of ``delays`` until
    one opens; None if the person quits meanwhile."""
    for delay in delays:
        conversation.note(f"* reconnecting in {delay:.1f} s")
        if await conversation.quits_before(asyncio.ensure_future(asyncio.sleep(delay))):
            return None
        opening = asyncio.ensure_future(open_resumed(conversation.resume(), options))
        if await conversation.quits_before(opening):
            return None
        try:
            return opening.result()
        except CommandError as exc:
            conversation.note(f"! cannot reconnect: {exc}")
    raise AssertionError("backoff() never ends")
