"""Tests of gateway.tokens: who a token says a client is, and what is refused, with a
clock passed in."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import jwt
import pytest

from gateway.tokens import (
    Authentication,
    Identity,
    TokenRefused,
    TokenVerifier,
    presented,
    without_token,
)

SECRET = "test-secret-that-is-long-enough-for-hs256"
NOW = 1_800_000_000.0
VERIFIER = TokenVerifier(SECRET, "wslab", leeway=30)


def mint(secret: str = SECRET, **claims: Any) -> str:
    return jwt.encode({"sub": "alice", "aud": "wslab", "exp": NOW + 60, **claims}, secret)


def refusal(token: str | None) -> tuple[HTTPStatus, str]:
    with pytest.raises(TokenRefused) as excinfo:
        VERIFIER.verify(token, NOW)
    return excinfo.value.status, excinfo.value.reason


def test_a_good_token_says_who_the_client_is_and_where_it_may_go() -> None:
    assert VERIFIER.verify(mint(), NOW) == Identity("alice")
    token = mint(sub="bob", rooms=["team-*", "lobby"])
    assert VERIFIER.verify(token, NOW) == Identity("bob", ("team-*", "lobby"))


@pytest.mark.parametrize(
    ("token", "status", "reason"),
    [
        (None, 401, "a token is required"),
        ("not.a.token", 401, "the token is invalid"),
        (mint(secret="someone-else-s-secret-of-the-same-length"), 401, "the token is invalid"),
        (mint(exp=NOW - 31), 401, "the token has expired"),
        (mint(nbf=NOW + 31), 401, "the token is not valid yet"),
        (mint(aud="another-gateway"), 401, "the token is not for this gateway"),
        (jwt.encode({"aud": "wslab", "exp": NOW + 60}, SECRET), 401, "the token has no 'sub'"),
        (jwt.encode({"sub": "alice", "aud": "wslab"}, SECRET), 401, "the token has no 'exp'"),
        (mint(sub="bad nick!"), 403, "the token's subject is not a nickname"),
        (mint(rooms="lobby"), 403, "the token's rooms are not a list of names"),
    ],
    ids=[
        "missing",
        "malformed",
        "forged",
        "expired",
        "not yet valid",
        "other audience",
        "no subject",
        "no expiry",
        "subject not a nickname",
        "rooms not a list",
    ],
)
def test_a_bad_token_is_refused_with_a_status_and_a_reason(
    token: str | None, status: int, reason: str
) -> None:
    assert refusal(token) == (status, reason)


def test_the_expiry_allows_for_the_leeway_by_the_clock_given() -> None:
    token = mint(exp=NOW - 29)
    assert VERIFIER.verify(token, NOW) == Identity("alice")
    assert refusal_at(token, NOW + 2) == "the token has expired"


def refusal_at(token: str, now: float) -> str:
    with pytest.raises(TokenRefused) as excinfo:
        VERIFIER.verify(token, now)
    return excinfo.value.reason


def test_an_unsigned_token_is_refused() -> None:
    unsigned = jwt.encode({"sub": "alice", "aud": "wslab", "exp": NOW + 60}, None, algorithm="none")
    assert refusal(unsigned) == (401, "the token is invalid")


def test_the_token_comes_from_the_bearer_header_before_the_query() -> None:
    headers = [(b"host", b"gw"), (b"Authorization", b"Bearer header-token")]
    assert presented(headers, "token=query-token") == "header-token"
    assert (
        presented([(b"authorization", b"Basic abc")], "nick=a&token=query-token") == "query-token"
    )
    assert presented([], "nick=alice") is None
    assert presented([(b"authorization", b"Bearer ")], "token=") is None


def test_the_token_is_taken_out_of_the_query_that_services_see() -> None:
    assert without_token("nick=alice&token=secret&room=lobby") == "nick=alice&room=lobby"
    assert without_token("nick=alice") == "nick=alice"
    assert without_token("token=secret") == ""


def test_anonymous_mode_lets_anyone_in_and_checks_a_token_if_one_is_presented() -> None:
    anonymous = Authentication(VERIFIER, required=False)
    assert anonymous.identify([], "", NOW) is None
    assert anonymous.identify([], f"token={mint()}", NOW) == Identity("alice")
    with pytest.raises(TokenRefused):
        anonymous.identify([], "token=forged", NOW)
    assert Authentication().identify([], "token=anything", NOW) is None


def test_token_mode_refuses_a_client_without_a_token() -> None:
    required = Authentication(VERIFIER, required=True)
    with pytest.raises(TokenRefused, match="a token is required"):
        required.identify([], "nick=alice", NOW)
    assert required.identify([(b"authorization", f"Bearer {mint()}".encode())], "", NOW) == (
        Identity("alice")
    )


def test_tokens_cannot_be_required_without_a_secret() -> None:
    with pytest.raises(ValueError, match="without a secret"):
        Authentication(None, required=True)
