"""Showing peer data on a terminal: one line per message, control characters escaped."""

from __future__ import annotations

import re

__all__ = ["format_message", "shorten"]

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def format_message(message: str | bytes) -> str:
    """Render a message as one line: text with control characters escaped, binary as hex."""
    if isinstance(message, bytes):
        return f"[binary {len(message)} bytes] {message.hex()}"
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], message)


def shorten(line: str, width: int = 200) -> str:
    """Cut ``line`` to ``width`` characters, ending with an ellipsis if it was longer."""
    return line if len(line) <= width else line[: width - 1] + "…"
