"""Frames of the draft: hybi-03 framing with the MORE bit turned into FIN, and no masking.

::

    byte 0:  FIN | RSV1 | RSV2 | RSV3 | opcode (4 bits)
    byte 1:  RSV4 | length (7 bits)          126: 16-bit length follows, 127: 64-bit length
    then the payload, unmasked in both directions

See docs/PROTOCOL.md, "Framing".
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import NamedTuple

from .exceptions import FramingError, PayloadTooBig

__all__ = [
    "CONTROL_OPCODES",
    "MAX_CONTROL_PAYLOAD",
    "BytesLike",
    "Frame",
    "FrameReader",
    "Opcode",
    "PreparedMessage",
    "close_body",
    "encode_frame",
    "encode_message",
]

BytesLike = bytes | bytearray | memoryview


class Opcode(enum.IntEnum):
    """Frame opcodes; 0x6 to 0xE are reserved."""

    CONTINUATION = 0x0
    CLOSE = 0x1
    PING = 0x2
    PONG = 0x3
    TEXT = 0x4
    BINARY = 0x5
    #: The draft's addition: the first frame each side sends.
    HELLO = 0xF


CONTROL_OPCODES = frozenset({Opcode.CLOSE, Opcode.PING, Opcode.PONG, Opcode.HELLO})

#: [I] Control frames are never fragmented, and we keep them small: hybi-03 sets no bound, but
#: every later draft caps them at 125 bytes, which keeps a Close echo within one short frame.
MAX_CONTROL_PAYLOAD = 125

_FIN = 0x80
_RSV_1_2_3 = 0x70
_RSV_4 = 0x80
# Index by the low four bits of byte 0; None marks a reserved opcode.
_OPCODES: tuple[Opcode | None, ...] = tuple(
    Opcode(value) if value in Opcode._value2member_map_ else None for value in range(16)
)
_HEAD_16 = struct.Struct("!BBH")
_HEAD_64 = struct.Struct("!BBQ")
_LENGTH_64 = struct.Struct("!Q")


def close_body(reason: str) -> bytes:
    """Encode a reason as a Close body: UTF-8, cut to 125 bytes between two characters."""
    return reason.encode()[:MAX_CONTROL_PAYLOAD].decode(errors="ignore").encode()


class Frame(NamedTuple):
    """One frame. Immutable; built by :class:`FrameReader` or by the sender.

    Attributes:
        opcode: what the frame carries.
        payload: its application data.
        fin: False on every fragment of a message but the last.
    """

    opcode: Opcode
    payload: bytes
    fin: bool = True

    def serialize(self) -> bytes:
        """Return the frame's bytes on the wire."""
        return encode_frame(self.opcode, self.payload, self.fin)


def encode_frame(opcode: Opcode, payload: BytesLike, fin: bool = True) -> bytes:
    """Return the bytes of a frame, with the shortest length encoding.

    It copies the payload once; ``payload`` may be a slice of a larger buffer.
    """
    head = _FIN | opcode if fin else opcode
    length = len(payload)
    if length < 126:
        return bytes((head, length)) + payload
    if length < 65536:
        return _HEAD_16.pack(head, 126, length) + payload
    return _HEAD_64.pack(head, 127, length) + payload


class FrameReader:
    """Turns a byte stream into frames.

    Feed bytes with :meth:`feed`, then call :meth:`read_frame` until it returns None.

    Args:
        max_frame_size: largest payload accepted; a longer frame raises PayloadTooBig as soon
            as its length is read, before its payload is buffered.
    """

    def __init__(self, max_frame_size: int) -> None:
        self.max_frame_size = max_frame_size
        # Unread bytes are self._buffer[self._pos:]. While every frame arrives whole the
        # buffer is the bytes object we were fed, so payloads are sliced out with one copy.
        self._buffer: bytes | bytearray = b""
        self._pos = 0

    @property
    def buffered(self) -> int:
        """How many bytes are waiting to be read."""
        return len(self._buffer) - self._pos

    def feed(self, data: bytes) -> None:
        """Append bytes received from the peer."""
        if self._pos == len(self._buffer):
            self._buffer = data
        else:
            if isinstance(self._buffer, bytes):
                self._buffer = bytearray(self._buffer)
            del self._buffer[: self._pos]
            self._buffer += data
        self._pos = 0

    def read_exact(self, size: int) -> bytes | None:
        """Return the next ``size`` bytes, or None if fewer are buffered."""
        end = self._pos + size
        if end > len(self._buffer):
            return None
        data = bytes(self._buffer[self._pos : end])
        self._pos = end
        return data

    def peek(self, size: int) -> bytes:
        """Return up to ``size`` buffered bytes without consuming them."""
        return bytes(self._buffer[self._pos : self._pos + size])

    def read_frame(self) -> Frame | None:
        """Return the next complete frame, or None if more bytes are needed.

        Raises:
            FramingError: reserved bits set, a reserved opcode, or a 64-bit length with its
                most significant bit set.
            PayloadTooBig: the frame is longer than ``max_frame_size``.
        """
        buffer = self._buffer
        pos = self._pos
        available = len(buffer) - pos
        if available < 2:
            return None
        head, length = buffer[pos], buffer[pos + 1]
        if head & _RSV_1_2_3:
            raise FramingError("reserved bits RSV1-3 must be 0")
        if length & _RSV_4:
            raise FramingError("reserved bit RSV4 must be 0")
        opcode = _OPCODES[head & 0x0F]
        if opcode is None:
            raise FramingError(f"reserved opcode 0x{head & 0x0F:X}")
        start = pos + 2
        if length == 126:
            if available < 4:
                return None
            length = buffer[start] << 8 | buffer[start + 1]
            start += 2
        elif length == 127:
            if available < 10:
                return None
            (length,) = _LENGTH_64.unpack_from(buffer, start)
            if length >> 63:
                raise FramingError("64-bit length with its most significant bit set")
            start += 8
        if length > self.max_frame_size:
            raise PayloadTooBig("frame", length, self.max_frame_size)
        end = start + length
        if end > len(buffer):
            return None
        payload = buffer[start:end]
        self._pos = end
        return Frame(opcode, payload if type(payload) is bytes else bytes(payload), head >= _FIN)


def encode_message(opcode: Opcode, payload: BytesLike, fragment_size: int) -> list[bytes]:
    """Return the frames of one message: a single frame, or fragments of ``fragment_size``."""
    if len(payload) <= fragment_size:
        return [encode_frame(opcode, payload)]
    view = memoryview(payload)
    last = len(view) - fragment_size
    return [
        encode_frame(
            opcode if start == 0 else Opcode.CONTINUATION,
            view[start : start + fragment_size],
            start >= last,
        )
        for start in range(0, len(view), fragment_size)
    ]


@dataclass(frozen=True)
class PreparedMessage:
    """A message framed once, to send on many connections with ``send_prepared``.

    Build it with :meth:`text` or :meth:`binary`; a broadcast then costs one encoding
    however many connections it goes to.
    """

    frames: tuple[bytes, ...]

    @classmethod
    def text(cls, text: str, fragment_size: int) -> PreparedMessage:
        """Frame a text message."""
        return cls(tuple(encode_message(Opcode.TEXT, text.encode(), fragment_size)))

    @classmethod
    def binary(cls, data: BytesLike, fragment_size: int) -> PreparedMessage:
        """Frame a binary message."""
        return cls(tuple(encode_message(Opcode.BINARY, data, fragment_size)))
