"""Limits that bound what a peer can make us buffer or wait for."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MAX_PAYLOAD_SIZE", "Limits"]

#: The largest length the 64-bit length field may carry: its most significant bit must be 0.
MAX_PAYLOAD_SIZE = 2**63 - 1


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Every limit of a connection, with conservative defaults.

    The sizes are enforced by the core. The two timeouts are read by the I/O layer, because
    the core has no clock: it only tells the adapter when a deadline starts and ends.

    Attributes:
        max_header_size: bytes of HTTP head (request or response) the core buffers before
            failing; 16 KiB like h11 (nginx allows 8 KiB, node 80 KiB).
        max_frame_size: largest frame payload accepted, in bytes; 1 MiB like websockets.
        max_message_size: largest message accepted, after reassembling fragments; 1 MiB like
            websockets. May be raised up to the draft's 63-bit maximum.
        fragment_size: outgoing messages longer than this are sent as fragments of this size.
        handshake_timeout: seconds the I/O layer allows for the HTTP exchange and the HELLOs.
        close_timeout: seconds the I/O layer waits for the peer's Close or TCP close.
    """

    max_header_size: int = 16 * 1024
    max_frame_size: int = 2**20
    max_message_size: int = 2**20
    fragment_size: int = 64 * 1024
    handshake_timeout: float = 10.0
    close_timeout: float = 5.0

    def __post_init__(self) -> None:
        for name in ("max_header_size", "max_frame_size", "max_message_size", "fragment_size"):
            value = getattr(self, name)
            if not 1 <= value <= MAX_PAYLOAD_SIZE:
                msg = f"{name} must be between 1 and 2**63 - 1, not {value}"
                raise ValueError(msg)
        for name in ("handshake_timeout", "close_timeout"):
            if getattr(self, name) <= 0:
                msg = f"{name} must be positive"
                raise ValueError(msg)
