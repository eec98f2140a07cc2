"""Exceptions of the client library beyond the core's (see :mod:`wsdraft.exceptions`).

``connect`` raises the core's :class:`~wsdraft.HandshakeRejected`,
:class:`~wsdraft.InvalidResponse` or :class:`~wsdraft.InvalidHello` when the handshake
fails, :class:`TimeoutError` when it takes too long, and :class:`OSError` when the server
cannot be reached. Once a connection is open, it raises :class:`ConnectionClosed`.
"""

from __future__ import annotations

from wsdraft import Closed

__all__ = ["ConnectionClosed"]


class ConnectionClosed(Exception):
    """The connection is closed; raised by ``recv`` and ``send`` after the end.

    Attributes:
        closed: the core's final event: the peer's Close body, and the error if the
            connection failed rather than closed cleanly.
    """

    def __init__(self, closed: Closed) -> None:
        super().__init__(closed)
        self.closed = closed

    @property
    def clean(self) -> bool:
        """True after a complete closing handshake."""
        return self.closed.clean

    def __str__(self) -> str:
        if self.closed.error is not None:
            return f"connection failed: {self.closed.error}"
        body = self.closed.body.decode(errors="replace")
        return f"connection closed: {body}" if body else "connection closed"
