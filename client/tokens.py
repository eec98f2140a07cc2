"""Development tokens for a gateway in token mode (docs/SECURITY.md, "Tokens"): signed with
the gateway's secret (HS256), for its audience, naming the user and, optionally, the rooms
they may enter. ``wslab token`` prints one; tests and scripts/attacks.py mint their own."""

from __future__ import annotations

from collections.abc import Sequence

import jwt

__all__ = ["mint"]


def mint(
    subject: str,
    secret: str,
    *,
    now: float,
    ttl: float = 3600.0,
    audience: str = "wslab",
    rooms: Sequence[str] | None = None,
) -> str:
    """A token for ``subject`` valid from ``now`` for ``ttl`` seconds; ``rooms``: the room
    patterns it allows (``*`` matches any characters), every room if None."""
    claims: dict[str, object] = {
        "sub": subject,
        "aud": audience,
        "iat": int(now),
        "exp": int(now + ttl),
    }
    if rooms is not None:
        claims["rooms"] = list(rooms)
    return jwt.encode(claims, secret, algorithm="HS256")
