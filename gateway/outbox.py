"""What a client connection sends, and when: one :class:`Outbox` per connection.

The hub hands every connection the same :class:`Outgoing` message; each wire protocol frames
it once (:meth:`Outgoing.framed`), however many of its connections it goes to. The outbox
owns the rest of the sending side: whether the client is slow, the latest message of each
conflated topic held while it is, and closing a client that falls too far behind
(docs/BUS.md, "Conflation").
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Protocol

from . import metrics

__all__ = ["POLICY_VIOLATION", "Framing", "Outbox", "Outgoing", "Writer"]

logger = logging.getLogger("wslab.gateway")

#: The close code for a client closed as too slow (RFC 6455 §7.4.1).
POLICY_VIOLATION = 1008


class Framing(Hashable, Protocol):
    """How one wire protocol frames a message; equal framings give the same bytes.

    A fan-out frames a message once per framing: connections of one protocol share one.
    """

    def __call__(self, text: bool, payload: bytes) -> tuple[bytes, ...]: ...


@dataclass(eq=False)
class Outgoing:
    """A message to send to any number of connections, of any wire protocol.

    Attributes:
        text: True for a text message, False for a binary one.
        payload: the message, UTF-8 encoded if text.
    """

    text: bool
    payload: bytes
    _framed: dict[Framing, tuple[bytes, ...]] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def of(cls, message: str | bytes) -> Outgoing:
        """A text message for ``str``, a binary one for ``bytes``."""
        if isinstance(message, str):
            return cls(True, message.encode())
        return cls(False, message)

    def framed(self, framing: Framing) -> tuple[bytes, ...]:
        """The message's frames in ``framing``, built on the first call only."""
        frames = self._framed.get(framing)
        if frames is None:
            frames = self._framed[framing] = framing(self.text, self.payload)
        return frames


class Writer(Protocol):
    """What an outbox needs of its connection."""

    @property
    def framing(self) -> Framing:
        """The framing of the connection's wire protocol."""
        ...

    def is_open(self) -> bool:
        """True while messages may be sent."""
        ...

    def write(self, frames: tuple[bytes, ...]) -> None:
        """Write frames to the client, after those written before."""
        ...

    def buffered(self) -> int:
        """Bytes written but not yet sent to the client."""
        ...

    def close(self, reason: str, code: int = 1000) -> None:
        """Start the closing handshake."""
        ...


@dataclass(eq=False)
class Outbox:
    """Sends to one client without waiting for it.

    The connection reports when its transport's buffer goes over ``slow_write_buffer``
    (:meth:`pause`) and back under a quarter of it (:meth:`resume`). While it is over, the
    client is *slow*: a message of a conflated topic is held instead of written, replacing
    the one held for that topic, and the held ones are written in order once it catches up.
    Any other message is written; a client with more than ``max_write_buffer`` bytes
    waiting is closed as too slow, so that one slow reader never holds up the others or
    grows memory.

    Args:
        writer: the connection.
        max_write_buffer: bytes that may wait for the client before it is closed.
    """

    writer: Writer
    max_write_buffer: int
    #: False while the client is slow.
    writable: bool = True
    #: The topics whose messages are conflated: only the latest is kept while slow.
    conflated: set[str] = field(default_factory=set)
    #: The latest message of each conflated topic held while slow, in the order the
    #: topics were first held.
    held: dict[str, Outgoing] = field(default_factory=dict)

    def send(self, message: Outgoing, topic: str | None = None) -> bool:
        """Write ``message``, or hold it if it is of a conflated ``topic`` and the client is slow.

        The caller counts what it sends in ``wslab_messages_out_total``: once per fan-out,
        not once per connection.

        Returns:
            False if the connection is not open or was just closed as too slow.
        """
        if not self.writer.is_open():
            return False
        if topic is not None and not self.writable and topic in self.conflated:
            if topic in self.held:
                metrics.CONFLATED.inc()
            self.held[topic] = message
            return True
        waiting = self.writer.buffered()
        if waiting > self.max_write_buffer:
            metrics.SLOW_CLOSES.inc()
            logger.info("! closing a client too slow to read: %d bytes wait for it", waiting)
            self.writer.close("too slow: messages are piling up", POLICY_VIOLATION)
            return False
        self._write(message)
        return True

    def conflate(self, topic: str, conflated: bool) -> None:
        """Receive ``topic`` conflated or not from now on.

        A message held for it is dropped: subscribing again makes it stale, since the
        service sends what is current (a snapshot) next.
        """
        self.held.pop(topic, None)
        if conflated:
            self.conflated.add(topic)
        else:
            self.conflated.discard(topic)

    def forget(self, topic: str) -> None:
        """Stop receiving ``topic``: a held message would arrive after the unsubscribe."""
        self.conflated.discard(topic)
        self.held.pop(topic, None)

    def close(self, reason: str) -> None:
        """Close the connection, with ``reason`` for the client."""
        self.writer.close(reason)

    def pause(self) -> None:
        """The client is slow: its transport's buffer is over the high-water mark."""
        self.writable = False

    def resume(self) -> None:
        """The client caught up: write what was held, until it is slow again.

        Writing may call :meth:`pause` at once; what is left waits for the next resume.
        """
        self.writable = True
        written = 0
        while self.held and self.writable and self.writer.is_open():
            self._write(self.held.pop(next(iter(self.held))))
            written += 1
        metrics.MESSAGES_OUT.inc(written)

    def clear(self) -> None:
        """The connection is gone: drop what is held."""
        self.held.clear()

    def _write(self, message: Outgoing) -> None:
        self.writer.write(message.framed(self.writer.framing))
