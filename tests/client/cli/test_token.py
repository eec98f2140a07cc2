"""``wslab token``: it prints a token the gateway accepts."""

from __future__ import annotations

import time

import pytest

from gateway.tokens import Identity, TokenVerifier
from tests.client.cli.running import wslab

SECRET = "a-development-secret-of-at-least-32-bytes"


def test_wslab_token_prints_a_token_for_the_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSLAB_TOKEN_SECRET", SECRET)
    result = wslab("token", "alice", "--room", "ops", "--room", "team-*", "--ttl", "120")
    assert (result.status, result.stderr) == (0, "")
    identity = TokenVerifier(SECRET).verify(result.stdout.strip(), time.time() + 100)
    assert identity == Identity("alice", ("ops", "team-*"))


def test_wslab_token_without_a_secret_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WSLAB_TOKEN_SECRET", raising=False)
    result = wslab("token", "alice")
    assert result.status == 2
    assert result.stderr == "wslab: no secret: give --secret or set WSLAB_TOKEN_SECRET\n"
