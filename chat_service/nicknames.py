"""Nicknames: what a client may choose with ``?nick=``, and guest names otherwise."""

from __future__ import annotations

import re
import secrets

__all__ = ["MAX_LENGTH", "choose", "guest", "is_valid"]

MAX_LENGTH = 32
# ASCII letters and digits only: nicknames are compared and displayed everywhere, and
# look-alike Unicode letters would let one user pass for another.
_NICK = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_LENGTH}}}")


def is_valid(nick: str) -> bool:
    """Return True if ``nick`` is 1 to 32 ASCII letters, digits, ``_`` or ``-``."""
    return _NICK.fullmatch(nick) is not None


def guest() -> str:
    """Return a random guest nickname, ``guest-`` and four hex digits."""
    return f"guest-{secrets.token_hex(2)}"


def choose(requested: str | None) -> str:
    """Return ``requested`` if it is a valid nickname, else a guest nickname."""
    return requested if requested is not None and is_valid(requested) else guest()
