"""A load generator cheap enough to measure a gateway that delivers 500,000 frames a second.

A Python client that decodes every frame costs more than the gateway that sends it (wslab's
gateway spends about 1.4 µs per delivery: docs/PERFORMANCE.md, "Fan-out CPU per
delivery"). So most connections here are **sinks**: a raw ``asyncio.Protocol`` that sends
an RFC 6455 opening handshake, then walks the frame headers of what it receives and counts
the text frames (about 0.25 µs a frame), answering pings, never decoding a payload. A few
connections are **samples**: the same protocol, but each text frame's payload is searched
for the time its message was sent (a quote's ``ts``, or a chat line's ``t=`` text), and the
time from that to its receipt goes into a histogram. Samples also say the chat lines.

Everything here runs in one process on one event loop, with the clock of the whole
machine (``time.time()``): the publisher's times and the receipts are comparable.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

from websockets.utils import apply_mask

from client.bench import Histogram

#: Handshakes in flight at once.
CONCURRENCY = 50
#: What a chat line's text starts with, before its send time.
LINE_PREFIX = "t="
_TS = b'"ts": '
_LINE = b'"text": "' + LINE_PREFIX.encode()


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked, final RFC 6455 frame carrying ``payload`` (a client's frames are masked)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = bytes([0x80 | opcode, 0x80 | size])
    elif size < 1 << 16:
        head = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + size.to_bytes(8, "big")
    return head + mask + apply_mask(payload, mask)


def sent_at(payload: bytes) -> float | None:
    """When the message in ``payload`` was sent: a chat line's ``t=`` time, else the
    message's ``ts`` (a quote's, given by its publisher); None if it has neither."""
    start = payload.find(_LINE)
    if start >= 0:
        start += len(_LINE)
        return float(payload[start : payload.index(b'"', start)])
    start = payload.rfind(_TS)
    if start < 0:
        return None
    start += len(_TS)
    end = start
    while end < len(payload) and payload[end] in b"0123456789.e+-":
        end += 1
    return float(payload[start:end])


@dataclass
class Window:
    """The latencies of messages sent between ``since`` and ``until``, wherever they arrive."""

    since: float
    until: float
    latency: Histogram = field(default_factory=Histogram)


class Peer(asyncio.Protocol):
    """One RFC 6455 client connection: a sink, or a sample with ``sample=True``.

    Args:
        request: the opening handshake to send.
        marker: bytes whose arrival means the connection is ready (``members`` after
            joining a chat room, ``subscribed`` for quotes); None: ready once open.
        sample: whether to time every text frame received (see :func:`sent_at`).
    """

    def __init__(self, request: bytes, marker: bytes | None, *, sample: bool = False) -> None:
        loop = asyncio.get_running_loop()
        self.request = request
        self.marker = marker
        self.sample = sample
        self.opened: asyncio.Future[None] = loop.create_future()
        self.ready: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.frames = 0
        self.window: Window | None = None
        self._head = b""  # Bytes of a frame header, or of a whole frame, still incomplete.
        self._skip = 0  # Payload bytes of the current frame still to come.
        self._response = b""
        self._tail = b""  # The last bytes seen while waiting for the marker.

    # asyncio's callbacks.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: uvloop's transports do not derive from asyncio's.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        for future in (self.opened, self.ready):
            if not future.done():
                future.set_exception(ConnectionError(f"connection lost: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        if not self.opened.done():
            self._response += data
            head, found, data = self._response.partition(b"\r\n\r\n")
            if not found:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                status = head.split(b"\r\n", 1)[0].decode(errors="replace")
                self.opened.set_exception(ConnectionError(f"handshake refused: {status}"))
                assert self.transport is not None
                self.transport.close()
                return
            self._response = b""
            self.opened.set_result(None)
            if self.marker is None:
                self.ready.set_result(None)
        if not self.ready.done() and self.marker is not None:
            seen = self._tail + data
            if self.marker in seen:
                self.ready.set_result(None)
            self._tail = seen[-len(self.marker) :]
        if self.sample:
            self._read_whole(data)
        else:
            self._count(data)

    # Frames.

    def _count(self, data: bytes) -> None:
        """Count the text frames in ``data``, skipping their payloads unread."""
        if self._head:
            data, self._head = self._head + data, b""
        i, n, frames = self._skip, len(data), 0
        while i < n:
            start = _payload_start(data, i, n)
            if start < 0:
                self._head = data[i:]
                i = n
                break
            end = start + _payload_length(data, i)
            if data[i] == 0x81:
                frames += 1
            elif data[i] & 0x08:  # A control frame: answer it, so it must be whole.
                if end > n:
                    self._head = data[i:]
                    i = n
                    break
                self._control(data[i] & 0x0F, data[start:end])
            i = end
        self._skip = i - n
        self.frames += frames

    def _read_whole(self, data: bytes) -> None:
        """Time each whole text frame in ``data``; keep an incomplete one for later."""
        if self._head:
            data, self._head = self._head + data, b""
        i, n = 0, len(data)
        while i < n:
            start = _payload_start(data, i, n)
            end = start + _payload_length(data, i) if start >= 0 else n + 1
            if end > n:
                self._head = data[i:]
                return
            if data[i] == 0x81:
                self.frames += 1
                self._time(data[start:end])
            elif data[i] & 0x08:
                self._control(data[i] & 0x0F, data[start:end])
            i = end

    def _time(self, payload: bytes) -> None:
        window = self.window
        if window is None:
            return
        now = time.time()
        sent = sent_at(payload)
        if sent is not None and window.since <= sent < window.until:
            window.latency.add(now - sent)

    def _control(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        if opcode == 0x9:  # Ping: "MUST send a Pong frame in response" (RFC 6455, 5.5.2).
            self.transport.write(client_frame(payload, 0xA))
        elif opcode == 0x8:
            self.transport.close()

    # Sending.

    def send(self, text: str) -> None:
        """Send ``text`` as a text message."""
        assert self.transport is not None
        self.transport.write(client_frame(text.encode()))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def _payload_start(data: bytes, i: int, n: int) -> int:
    """Where the payload of the frame at ``data[i]`` starts; -1 if its header is incomplete."""
    if i + 2 > n:
        return -1
    size = data[i + 1] & 0x7F
    if size < 126:
        return i + 2
    start = i + (4 if size == 126 else 10)
    return start if start <= n else -1


def _payload_length(data: bytes, i: int) -> int:
    size = data[i + 1] & 0x7F
    if size < 126:
        return size
    if size == 126:
        return data[i + 2] << 8 | data[i + 3]
    return int.from_bytes(data[i + 2 : i + 10], "big")


def handshake(host: str, port: int, resource: str) -> bytes:
    """An RFC 6455 opening handshake for ``resource``, asking for no extension."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {resource} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: http://{host}:{port}\r\n\r\n"
    ).encode()


async def open_peer(
    host: str, port: int, resource: str, marker: bytes | None, *, sample: bool = False
) -> Peer:
    """Open one connection and wait for its handshake."""
    loop = asyncio.get_running_loop()
    request = handshake(host, port, resource)
    _, peer = await loop.create_connection(lambda: Peer(request, marker, sample=sample), host, port)
    await peer.opened
    return peer


async def open_peers(
    host: str,
    port: int,
    resources: Sequence[str],
    marker: bytes | None,
    *,
    samples: int,
    opened: list[Peer],
    first: str = "",
) -> list[Peer]:
    """Open a connection to each of ``resources``, ``CONCURRENCY`` at a time; the first
    ``samples`` are samples. Each is appended to ``opened`` as it opens (so that the
    caller can abort them all, whatever happens). ``first`` is sent on each once open."""
    semaphore = asyncio.Semaphore(CONCURRENCY)
    peers: list[Peer | None] = [None] * len(resources)

    async def open_one(number: int) -> None:
        async with semaphore:
            peer = await open_peer(host, port, resources[number], marker, sample=number < samples)
            opened.append(peer)
            peers[number] = peer
            if first:
                peer.send(first)

    await asyncio.gather(*(open_one(number) for number in range(len(resources))))
    return [peer for peer in peers if peer is not None]


def frames(peers: Sequence[Peer]) -> int:
    """The text frames ``peers`` received so far."""
    return sum(peer.frames for peer in peers)


async def quiet(peers: Sequence[Peer], *, still: float = 0.3, limit: float = 15.0) -> bool:
    """Wait until ``peers`` receive nothing for ``still`` seconds (at most ``limit``);
    False if they were still receiving then."""
    deadline = time.monotonic() + limit
    last = frames(peers)
    while time.monotonic() < deadline:
        await asyncio.sleep(still)
        now = frames(peers)
        if now == last:
            return True
        last = now
    return False
