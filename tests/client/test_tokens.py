"""Minting development tokens: tokens the gateway accepts."""

from __future__ import annotations

from client.tokens import mint
from gateway.tokens import Identity, TokenVerifier

SECRET = "a-development-secret-of-at-least-32-bytes"


def test_a_minted_token_is_what_the_gateway_verifies() -> None:
    now = 1_800_000_000.0
    token = mint("alice", SECRET, now=now, ttl=60, rooms=["team-*"])
    verifier = TokenVerifier(SECRET)
    assert verifier.verify(token, now + 59) == Identity("alice", ("team-*",))
    assert mint("bob", SECRET, now=now, audience="east").count(".") == 2
    assert TokenVerifier(SECRET, "east").verify(mint("bob", SECRET, now=now, audience="east"), now)
