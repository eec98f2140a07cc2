"""Typing on the bottom line of a terminal: the line editor and what is written."""

from __future__ import annotations

import pytest

from client.lineedit import CLEAR_LINE, LineEditor, above_input, columns, input_line


def test_the_line_editor_collects_printable_characters_and_submits_on_enter() -> None:
    editor = LineEditor()
    assert editor.feed("héllo") == []
    assert editor.buffer == "héllo"
    assert editor.feed(" you\rnext\n") == ["héllo you", "next"]
    assert editor.buffer == ""


def test_the_line_editor_erases_characters_words_and_lines() -> None:
    editor = LineEditor()
    editor.feed("hello wrld\x7f\x7f\x08orld")
    assert editor.buffer == "hello world"
    editor.feed("\x17")
    assert editor.buffer == "hello "
    editor.feed("\x17")
    assert editor.buffer == ""
    editor.feed("gone\x15kept")
    assert editor.buffer == "kept"


def test_the_line_editor_ignores_escape_sequences_even_split_and_other_controls() -> None:
    editor = LineEditor()
    assert editor.feed("a\x1b[D\x1b[1;5") == []
    assert editor.feed("Cb\x1bOPc\x1bxd\t\x07\x00e") == []
    assert editor.buffer == "abcde"


def test_ctrl_d_ends_the_input_only_on_an_empty_line() -> None:
    editor = LineEditor()
    assert editor.feed("typing\x04") == []
    assert editor.feed("\x15\x04ignored") == [None]


def test_the_input_line_shows_the_prompt_and_the_end_of_a_long_input() -> None:
    assert input_line("lobby> ", "hi", 80) == f"{CLEAR_LINE}lobby> hi"
    assert input_line("lobby> ", "abcdefghij", 12) == f"{CLEAR_LINE}lobby> ghij"
    assert input_line("a-very-long-prompt> ", "xyz", 10) == f"{CLEAR_LINE}a-very-long-prompt> z"


def test_a_line_received_replaces_the_input_line_which_is_redrawn_below() -> None:
    assert above_input("[lobby] <bob> hi", "lobby> ", "half typ", 80) == (
        f"{CLEAR_LINE}[lobby] <bob> hi\n{CLEAR_LINE}lobby> half typ"
    )


@pytest.mark.parametrize(
    ("text", "width"),
    [("abc", 3), ("你好", 4), ("\uff48\uff49", 4), ("e\u0301", 1), ("😀!", 3), ("\u200b", 0)],
)
def test_text_takes_a_column_a_character_two_if_wide_none_if_combining(
    text: str, width: int
) -> None:
    assert columns(text) == width


def test_the_input_line_counts_wide_characters_as_two_columns_so_it_never_wraps() -> None:
    line = input_line("lobby> ", "你好世界吗", 12)  # room for 4 columns: the last 2 characters
    assert line == f"{CLEAR_LINE}lobby> 界吗"
    assert input_line("> ", "ab你", 6) == f"{CLEAR_LINE}> b你"  # 3 columns of 3
    assert input_line("> ", "a你", 4) == f"{CLEAR_LINE}> "  # 你 does not fit in 1
    assert input_line("> ", "cafe\u0301!", 6) == f"{CLEAR_LINE}> fe\u0301!"
