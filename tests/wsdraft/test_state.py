"""Tests of wsdraft.state: the transition table, row by row, and the rows it lacks."""

from __future__ import annotations

import itertools

import pytest

from wsdraft import LocalProtocolError, State
from wsdraft.state import TRANSITIONS, Trigger, next_state

S, T = State, Trigger
ALIVE = (S.CONNECTING, S.ACCEPTING, S.HELLO, S.OPEN, S.CLOSING)

# The table written out by hand from the diagram in the module docstring.
EXPECTED = {
    (S.CONNECTING, T.REQUEST_RECEIVED): S.ACCEPTING,
    (S.ACCEPTING, T.ACCEPT): S.HELLO,
    (S.ACCEPTING, T.REJECT): S.CLOSED,
    (S.CONNECTING, T.RESPONSE_RECEIVED): S.HELLO,
    (S.HELLO, T.HELLO_VERIFIED): S.OPEN,
    (S.OPEN, T.CLOSE_SENT): S.CLOSING,
    (S.OPEN, T.CLOSE_RECEIVED): S.CLOSED,
    (S.CLOSING, T.CLOSE_RECEIVED): S.CLOSED,
    **{(state, T.FAIL): S.CLOSED for state in ALIVE},
    **{(state, T.EOF): S.CLOSED for state in ALIVE},
}

MISSING = [pair for pair in itertools.product(State, Trigger) if pair not in EXPECTED]


def test_transition_table_has_exactly_the_documented_rows() -> None:
    assert TRANSITIONS == EXPECTED
    assert len(TRANSITIONS) == 18


@pytest.mark.parametrize(
    ("state", "trigger", "after"),
    [(state, trigger, after) for (state, trigger), after in EXPECTED.items()],
    ids=[f"{state.name}-{trigger.name}" for state, trigger in EXPECTED],
)
def test_next_state_follows_each_row_of_the_table(
    state: State, trigger: Trigger, after: State
) -> None:
    assert next_state(state, trigger) is after


@pytest.mark.parametrize(
    ("state", "trigger"),
    MISSING,
    ids=[f"{state.name}-{trigger.name}" for state, trigger in MISSING],
)
def test_next_state_refuses_a_trigger_the_table_has_no_row_for(
    state: State, trigger: Trigger
) -> None:
    with pytest.raises(LocalProtocolError) as exc_info:
        next_state(state, trigger)
    assert str(exc_info.value) == f"cannot proceed when {trigger.value} in state {state.name}"


def test_nothing_leaves_the_closed_state() -> None:
    assert not [trigger for trigger in Trigger if (State.CLOSED, trigger) in TRANSITIONS]
    assert len(MISSING) == len(State) * len(Trigger) - 18


def test_every_state_but_closed_can_fail_or_lose_its_transport() -> None:
    for state in State:
        if state is not State.CLOSED:
            assert next_state(state, Trigger.FAIL) is State.CLOSED
            assert next_state(state, Trigger.EOF) is State.CLOSED


def test_every_state_is_reachable_from_connecting() -> None:
    reached = {State.CONNECTING}
    while True:
        more = {after for (state, _), after in TRANSITIONS.items() if state in reached}
        if more <= reached:
            break
        reached |= more
    assert reached == set(State)


def test_local_protocol_error_is_a_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="cannot proceed when a Close was sent in state HELLO"):
        next_state(State.HELLO, Trigger.CLOSE_SENT)
