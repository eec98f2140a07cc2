"""Showing peer data on a terminal: one line per message, control characters escaped."""

from __future__ import annotations

import json
import re

__all__ = ["format_message", "json_line", "parse_object", "shorten"]

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_CONTROL_OR_TAB = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def format_message(message: str | bytes, *, escape_tabs: bool = False) -> str:
    """Render a message as one line: text with control characters escaped, binary as hex.

    Tabs are kept by default, so that tab-separated output of ``wslab connect`` can be cut
    into fields; with ``escape_tabs`` they are escaped too, for text shown among other text
    (a chat line), where a tab would move the cursor by a width the sender does not know.
    """
    if isinstance(message, bytes):
        return f"[binary {len(message)} bytes] {message.hex()}"
    control = _CONTROL_OR_TAB if escape_tabs else _CONTROL
    return control.sub(lambda match: repr(match.group())[1:-1], message)


def shorten(line: str, width: int = 200) -> str:
    """Cut ``line`` to ``width`` characters, ending with an ellipsis if it was longer."""
    return line if len(line) <= width else line[: width - 1] + "…"


def parse_object(text: str) -> dict[str, object] | None:
    """The JSON object ``text`` holds; None if it is not one."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # Deep nesting overflows the parser.
        return None
    return value if isinstance(value, dict) else None


def json_line(text: str) -> str:
    """A received message as one line for ``--json``: as received, unless it spans lines."""
    if "\n" not in text and "\r" not in text:
        return text
    event = parse_object(text)
    return json.dumps(event) if event is not None else format_message(text)
