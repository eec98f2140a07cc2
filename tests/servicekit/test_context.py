from __future__ import annotations

import pytest

import bus
from servicekit import Connection


def test_a_connection_is_what_the_envelope_says() -> None:
    envelope = bus.Envelope(
        kind="open",
        conn="gw-1.7",
        seq=0,
        gateway="gw-1",
        path="/chat",
        query="nick=alice",
        received_at=1.0,
        published_at=2.0,
    )
    assert Connection.from_envelope(envelope) == Connection(
        id="gw-1.7", gateway="gw-1", path="/chat", query="nick=alice"
    )


@pytest.mark.parametrize(
    ("query", "value"),
    [
        ("nick=alice", "alice"),
        ("a=1&nick=bob&nick=carol", "bob"),
        ("nick=caf%C3%A9+au+lait", "café au lait"),
        ("nick=", ""),
        ("nick", ""),
        ("", None),
        ("nickname=alice", None),
    ],
)
def test_a_query_parameter_is_its_first_decoded_value(query: str, value: str | None) -> None:
    assert Connection(id="c", gateway="g", query=query).param("nick") == value
