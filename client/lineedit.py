"""Typing on the bottom line of a terminal while lines arrive above it, without I/O.

:class:`LineEditor` turns the characters a terminal in cbreak mode sends into the line being
typed and the lines submitted; :func:`input_line` and :func:`above_input` return what to
write so that a received line appears above the input, which stays on the bottom line.
Only ``\\r`` (to the start of the line) and ``ESC [ K`` (clear to its end) are used, which
every terminal in use understands.
"""

from __future__ import annotations

import unicodedata

__all__ = ["CLEAR_LINE", "LineEditor", "above_input", "columns", "input_line"]

CLEAR_LINE = "\r\x1b[K"

_ENTER = "\r\n"
_ERASE = "\x7f\x08"  # DEL (most terminals' Backspace), BS
_KILL_LINE = "\x15"  # Ctrl-U
_KILL_WORD = "\x17"  # Ctrl-W
_EOF = "\x04"  # Ctrl-D
_ESC = "\x1b"


class LineEditor:
    """The line being typed: characters are added at the end; Backspace, Ctrl-U (erase
    the line) and Ctrl-W (erase a word) edit it; Enter submits it; Ctrl-D on an empty line
    ends the input. Escape sequences (arrows, function keys) and other control characters
    are ignored.
    """

    def __init__(self) -> None:
        self.buffer = ""
        self._escape = ""  # an escape sequence being read, which may span calls to feed

    def feed(self, text: str) -> list[str | None]:
        """Take typed characters; return the lines submitted, then None if input ended."""
        submitted: list[str | None] = []
        for char in text:
            if self._escape:
                self._escape = _continue_escape(self._escape + char)
            elif char == _ESC:
                self._escape = char
            elif char in _ENTER:
                submitted.append(self.buffer)
                self.buffer = ""
            elif char in _ERASE:
                self.buffer = self.buffer[:-1]
            elif char == _KILL_LINE:
                self.buffer = ""
            elif char == _KILL_WORD:
                self.buffer = self.buffer.rstrip().rpartition(" ")[0]
                self.buffer += " " if self.buffer else ""
            elif char == _EOF:
                if not self.buffer:
                    submitted.append(None)
                    return submitted
            elif char.isprintable():
                self.buffer += char
        return submitted


def _continue_escape(sequence: str) -> str:
    """The escape sequence still being read after its last character, "" once complete.

    CSI (``ESC [``) and SS3 (``ESC O``) sequences end with a character from ``@`` to ``~``
    after their parameters; other escapes are two characters long.
    """
    if len(sequence) == 2:
        return sequence if sequence[1] in "[O" else ""
    last = sequence[-1]
    return "" if "@" <= last <= "~" else sequence


def _char_columns(char: str) -> int:
    """How many columns a terminal gives ``char``: 2 for wide (CJK, most emoji), 0 for a
    combining mark or another character drawn over its neighbour, else 1."""
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def columns(text: str) -> int:
    """How many terminal columns ``text`` takes on one line."""
    return sum(_char_columns(char) for char in text)


def _tail(text: str, width: int) -> str:
    """The longest end of ``text`` that fits in ``width`` columns."""
    used = 0
    for start in range(len(text) - 1, -1, -1):
        used += _char_columns(text[start])
        if used > width:
            return text[start + 1 :]
    return text


def input_line(prompt: str, buffer: str, width: int) -> str:
    """Redraw the bottom line: the prompt and the end of what is being typed that fits.

    What fits is counted in terminal columns, not characters: a line one column too wide
    wraps, and clearing the bottom line would then leave the row above it on the screen.
    """
    room = max(width - columns(prompt) - 1, 1)  # leave the last column free for the cursor
    return CLEAR_LINE + prompt + _tail(buffer, room)


def above_input(line: str, prompt: str, buffer: str, width: int) -> str:
    """Show ``line`` in place of the input line, then redraw the input below it."""
    return CLEAR_LINE + line + "\n" + input_line(prompt, buffer, width)
