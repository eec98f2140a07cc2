"""The connection's state machine, as data.

Rule: every state change of a connection is a row of :data:`TRANSITIONS`; the protocol
classes only name the :class:`Trigger` that happened. Both sides share the table; a trigger
that one side never fires simply never appears in its history.

::

    CONNECTING ──request received──▶ ACCEPTING ──accept──▶ HELLO        (server)
    CONNECTING ──response received─────────────────────▶ HELLO          (client)
    HELLO ──hello verified──▶ OPEN ──close sent──▶ CLOSING ──close received──▶ CLOSED
                               └──────────close received (echo sent)─────────▶ CLOSED
    any state but CLOSED ──reject / fail / EOF──▶ CLOSED
"""

from __future__ import annotations

import enum

from .exceptions import LocalProtocolError

__all__ = ["TRANSITIONS", "State", "Trigger", "next_state"]


class State(enum.Enum):
    """Where a connection is in its life."""

    #: The HTTP exchange is under way: the client waits for the response, the server for
    #: the request.
    CONNECTING = "connecting"
    #: (Server only.) A valid request arrived; the application must accept or reject it.
    ACCEPTING = "accepting"
    #: The 101 response was sent or received; the HELLO frames are being exchanged.
    HELLO = "hello"
    #: Both HELLOs were verified; messages flow both ways.
    OPEN = "open"
    #: We sent a Close and wait for the peer's.
    CLOSING = "closing"
    #: Nothing more is sent or received.
    CLOSED = "closed"


class Trigger(enum.Enum):
    """What happened to move a connection."""

    REQUEST_RECEIVED = "a valid request was received"
    ACCEPT = "the request was accepted"
    REJECT = "the request was rejected"
    RESPONSE_RECEIVED = "a 101 response was received"
    HELLO_VERIFIED = "the peer's HELLO was verified"
    CLOSE_SENT = "a Close was sent"
    CLOSE_RECEIVED = "a Close was received"
    FAIL = "the connection failed"
    EOF = "the transport closed"


_ALIVE = (State.CONNECTING, State.ACCEPTING, State.HELLO, State.OPEN, State.CLOSING)

TRANSITIONS: dict[tuple[State, Trigger], State] = {
    (State.CONNECTING, Trigger.REQUEST_RECEIVED): State.ACCEPTING,
    (State.ACCEPTING, Trigger.ACCEPT): State.HELLO,
    (State.ACCEPTING, Trigger.REJECT): State.CLOSED,
    (State.CONNECTING, Trigger.RESPONSE_RECEIVED): State.HELLO,
    (State.HELLO, Trigger.HELLO_VERIFIED): State.OPEN,
    (State.OPEN, Trigger.CLOSE_SENT): State.CLOSING,
    # The receiver of a Close echoes it at once, so one Close each way ends the connection.
    (State.OPEN, Trigger.CLOSE_RECEIVED): State.CLOSED,
    (State.CLOSING, Trigger.CLOSE_RECEIVED): State.CLOSED,
    **{(state, Trigger.FAIL): State.CLOSED for state in _ALIVE},
    **{(state, Trigger.EOF): State.CLOSED for state in _ALIVE},
}
"""Every legal ``(state, trigger) -> next state``."""


def next_state(state: State, trigger: Trigger) -> State:
    """Return the state that ``trigger`` leads to from ``state``.

    Raises:
        LocalProtocolError: the table has no such row.
    """
    try:
        return TRANSITIONS[state, trigger]
    except KeyError:
        msg = f"cannot proceed when {trigger.value} in state {state.name}"
        raise LocalProtocolError(msg) from None
