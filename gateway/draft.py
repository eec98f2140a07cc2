"""The 2010 draft, as the gateway serves it: wsdraft's server, with the connection layer's
few extra calls (:class:`gateway.wire.Wire`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from wsdraft import Limits, Opcode, ServerProtocol, State, close_body
from wsdraft.frames import encode_message

__all__ = ["DraftFraming", "DraftWire", "draft_framing"]


# Compared and hashed by identity, as fast as a dict key can be: a fan-out looks its frames
# up by framing once per connection. draft_framing gives every connection the same one.
@dataclass(frozen=True, eq=False)
class DraftFraming:
    """Frames a message for the draft, in fragments of ``fragment_size`` bytes."""

    fragment_size: int

    def __call__(self, text: bool, payload: bytes) -> tuple[bytes, ...]:
        opcode = Opcode.TEXT if text else Opcode.BINARY
        return tuple(encode_message(opcode, payload, self.fragment_size))


@functools.cache
def draft_framing(fragment_size: int) -> DraftFraming:
    """The one :class:`DraftFraming` of ``fragment_size``, shared by its connections."""
    return DraftFraming(fragment_size)


class DraftWire(ServerProtocol):
    """One draft server connection (:class:`wsdraft.ServerProtocol`)."""

    def __init__(
        self,
        *,
        secure: bool = False,
        limits: Limits | None = None,
    ) -> None:
        super().__init__(secure=secure, limits=limits)
        self.framing = draft_framing(self.limits.fragment_size)

    def close(self, reason: str, code: int = 1000) -> None:
        """Start the closing handshake with ``reason`` as the Close body, if open.

        The draft's Close carries no code: ``code`` is for the other protocols' sake.
        """
        if self.state is State.OPEN:
            self.send_close(close_body(reason))
