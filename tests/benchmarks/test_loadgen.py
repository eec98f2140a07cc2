"""Tests of benchmarks/loadgen.py: the sinks count every frame however the bytes are cut,
answer pings, and the samples time what they receive. No sockets: bytes are fed in."""

from __future__ import annotations

import json
import random
import time

import pytest
from loadgen import LINE_PREFIX, Peer, Window, client_frame, sent_at
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader


class Transport:
    """What a peer writes, and whether it closed."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True


def server_frame(opcode: Opcode, payload: bytes) -> bytes:
    return Frame(opcode, payload).serialize(mask=False)


def stream() -> tuple[bytes, int]:
    """A server's bytes: texts of every length class, a ping in the middle."""
    texts = [
        json.dumps({"type": "quote", "ts": 1.5, "pad": "x" * size})
        for size in range(0, 70_000, 997)
    ]
    frames = [server_frame(Opcode.TEXT, text.encode()) for text in texts]
    frames.insert(7, server_frame(Opcode.PING, b"\x00\xff\x80\x7f"))
    return b"HTTP/1.1 101 Switching Protocols\r\n\r\n" + b"".join(frames), len(texts)


async def opened_peer(*, sample: bool = False) -> tuple[Peer, Transport]:
    peer = Peer(b"GET / HTTP/1.1\r\n\r\n", None, sample=sample)
    transport = Transport()
    peer.connection_made(transport)  # type: ignore[arg-type]
    return peer, transport


@pytest.mark.parametrize("sample", [False, True])
async def test_a_peer_counts_every_text_frame_however_the_bytes_are_cut(sample: bool) -> None:
    data, texts = stream()
    rng = random.Random(2010)
    peer, transport = await opened_peer(sample=sample)
    start = 0
    while start < len(data):
        size = rng.choice([1, 2, 3, 7, 100, 5000, 70_000])
        peer.data_received(data[start : start + size])
        start += size
    assert peer.opened.done()
    assert peer.frames == texts
    [answer] = transport.written[1:]  # A pong, with the ping's payload, masked.
    assert answer[0] == 0x8A
    mask = answer[2:6]
    assert bytes(b ^ mask[i % 4] for i, b in enumerate(answer[6:])) == b"\x00\xff\x80\x7f"


async def test_a_refused_handshake_fails_the_opening() -> None:
    peer, transport = await opened_peer()
    peer.data_received(b"HTTP/1.1 503 Service Unavailable\r\n\r\n")
    with pytest.raises(ConnectionError, match="503"):
        await peer.opened
    assert transport.closed


async def test_a_sample_times_the_messages_sent_in_its_window() -> None:
    peer, _ = await opened_peer(sample=True)
    now = time.time()
    peer.window = Window(now - 1.0, now + 1.0)
    peer.data_received(b"HTTP/1.1 101 OK\r\n\r\n")
    line = {"type": "message", "text": f"{LINE_PREFIX}{now - 0.25!r}", "seq": 1, "ts": 0.0}
    quote = {"type": "quote", "symbol": "MSFT", "ts": now - 0.5}
    early = {"type": "quote", "symbol": "MSFT", "ts": now - 5.0}
    for message in (line, quote, early):
        peer.data_received(server_frame(Opcode.TEXT, json.dumps(message).encode()))
    assert peer.frames == 3
    assert peer.window.latency.count == 2
    assert 0.5 <= peer.window.latency.max < 0.6


def test_the_send_time_is_a_chat_line_s_text_else_the_ts() -> None:
    line = json.dumps({"type": "message", "text": f"{LINE_PREFIX}12.5", "seq": 3, "ts": 99.0})
    assert sent_at(line.encode()) == 12.5
    assert sent_at(b'{"type": "quote", "ts": 1767225600.25}') == 1767225600.25
    assert sent_at(b'{"type": "members"}') is None


def test_a_client_frame_is_masked_and_parses_back() -> None:
    for size in (0, 125, 126, 65_535, 65_536):
        payload = b"a" * size
        frame = client_frame(payload)
        assert frame[1] & 0x80
        reader = StreamReader()
        reader.feed_data(frame)
        parser = Frame.parse(reader.read_exact, mask=True)
        with pytest.raises(StopIteration) as parsed:
            next(parser)
        assert parsed.value.value.data == payload
