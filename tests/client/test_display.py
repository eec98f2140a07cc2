"""Showing peer data: JSON messages as one line each."""

from __future__ import annotations

from client.display import json_line, parse_object


def test_json_lines_are_messages_as_received_unless_they_span_lines() -> None:
    assert json_line('{"type":  "rooms"}') == '{"type":  "rooms"}'
    assert json_line('{\n "type": "rooms"\n}') == '{"type": "rooms"}'
    assert json_line("not\njson") == "not\\njson"


def test_only_a_json_object_parses_as_one() -> None:
    assert parse_object('{"type": "quote"}') == {"type": "quote"}
    assert parse_object("[1, 2]") is None
    assert parse_object("MSFT AAPL") is None
    assert parse_object("[" * 100_000) is None
