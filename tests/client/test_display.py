"""Showing peer data: each message as one line."""

from __future__ import annotations

import pytest

from client.display import format_message, json_line, parse_object


@pytest.mark.parametrize(
    ("message", "line"),
    [
        ("plain text", "plain text"),
        ("two\nlines", "two\\nlines"),
        ("tab\tand escape\x1b[31m", "tab\tand escape\\x1b[31m"),
        (b"\x00\x01", "[binary 2 bytes] 0001"),
    ],
)
def test_messages_are_printed_as_one_line(message: str | bytes, line: str) -> None:
    assert format_message(message) == line


def test_json_lines_are_messages_as_received_unless_they_span_lines() -> None:
    assert json_line('{"type":  "rooms"}') == '{"type":  "rooms"}'
    assert json_line('{\n "type": "rooms"\n}') == '{"type": "rooms"}'
    assert json_line("not\njson") == "not\\njson"


def test_only_a_json_object_parses_as_one() -> None:
    assert parse_object('{"type": "quote"}') == {"type": "quote"}
    assert parse_object("[1, 2]") is None
    assert parse_object("MSFT AAPL") is None
    assert parse_object("[" * 100_000) is None
