from __future__ import annotations

import re

import pytest

from chat_service import nicknames

GUEST = re.compile(r"guest-[0-9a-f]{4}")


@pytest.mark.parametrize("nick", ["alice", "B", "r2-d2", "under_score", "0", "x" * 32])
def test_letters_digits_underscores_and_dashes_make_a_valid_nickname(nick: str) -> None:
    assert nicknames.is_valid(nick)
    assert nicknames.choose(nick) == nick


@pytest.mark.parametrize(
    "nick",
    [
        "",
        "x" * 33,
        "alice smith",
        "café",
        "\uff21\uff2c\uff29\uff23\uff25",  # ALICE in fullwidth letters
        "a.b",
        "<b>",
        "alice\n",
        "tab\there",
    ],
)
def test_anything_else_is_not_a_valid_nickname(nick: str) -> None:
    assert not nicknames.is_valid(nick)
    assert GUEST.fullmatch(nicknames.choose(nick))


def test_without_a_nickname_the_client_is_a_guest() -> None:
    assert GUEST.fullmatch(nicknames.choose(None))


def test_guest_nicknames_are_random() -> None:
    assert len({nicknames.guest() for _ in range(20)}) > 1
