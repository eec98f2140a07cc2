"""Tests of wsdraft.handshake: nonces, digests, HELLO frames and the shared header rules."""

from __future__ import annotations

import hashlib

import pytest

from tests.wsdraft.vectors import CLIENT_NONCE, SERVER_NONCE
from wsdraft import handshake
from wsdraft.handshake import (
    CLIENT_HELLO_HEAD,
    CLIENT_HELLO_SIZE,
    DRAFT_VERSION,
    NONCE_SIZE,
    SERVER_HELLO_HEAD,
    SERVER_HELLO_SIZE,
    client_digest,
    client_hello,
    format_nonce,
    header_tokens,
    invalid_resource,
    new_nonce,
    parse_nonce,
    server_digest,
    server_hello,
    valid_subprotocol,
)


def test_server_digest_matches_the_drafts_test_vector() -> None:
    digest = server_digest(CLIENT_NONCE, SERVER_NONCE)
    assert digest.hex() == "ee7ebe0c369cbf255a4451fc58d7cc4f"


def test_client_digest_matches_the_drafts_test_vector() -> None:
    digest = client_digest(CLIENT_NONCE, SERVER_NONCE)
    assert digest.hex() == "33122035d11258fd7c764314580e539c"


def test_digests_hash_the_25_binary_octets_not_the_41_octets_of_hex_text() -> None:
    # The draft's prose says "41 octets"; that is an erratum (spec §1.2).
    hex_form = hashlib.md5(b"A23F2BCA452DDE01WebSocket15F0D2278BCD457F").hexdigest()
    assert hex_form == "f1e3d9c6d76360bcd08c3dc19a0dc24c"
    assert server_digest(CLIENT_NONCE, SERVER_NONCE).hex() != hex_form
    binary_form = hashlib.md5(CLIENT_NONCE + b"WebSocket" + SERVER_NONCE).digest()
    assert len(CLIENT_NONCE + b"WebSocket" + SERVER_NONCE) == 25
    assert server_digest(CLIENT_NONCE, SERVER_NONCE) == binary_form


def test_server_hello_is_the_drafts_26_bytes() -> None:
    assert server_hello(CLIENT_NONCE, SERVER_NONCE) == (
        b"\x8f\x18"
        b"\x15\xf0\xd2\x27\x8b\xcd\x45\x7f"
        b"\xee\x7e\xbe\x0c\x36\x9c\xbf\x25\x5a\x44\x51\xfc\x58\xd7\xcc\x4f"
    )
    assert len(server_hello(CLIENT_NONCE, SERVER_NONCE)) == SERVER_HELLO_SIZE == 26


def test_client_hello_is_the_drafts_18_bytes() -> None:
    assert client_hello(CLIENT_NONCE, SERVER_NONCE) == (
        b"\x8f\x10\x33\x12\x20\x35\xd1\x12\x58\xfd\x7c\x76\x43\x14\x58\x0e\x53\x9c"
    )
    assert len(client_hello(CLIENT_NONCE, SERVER_NONCE)) == CLIENT_HELLO_SIZE == 18


def test_hello_heads_are_fin_hello_with_the_payload_length() -> None:
    assert bytes([0x80 | 0xF, 24]) == SERVER_HELLO_HEAD
    assert bytes([0x80 | 0xF, 16]) == CLIENT_HELLO_HEAD
    assert NONCE_SIZE == 8
    assert DRAFT_VERSION == "3"


def test_nonce_is_formatted_as_16_upper_case_hex_digits() -> None:
    assert format_nonce(CLIENT_NONCE) == "A23F2BCA452DDE01"
    assert format_nonce(bytes(8)) == "0000000000000000"


@pytest.mark.parametrize(
    ("value", "nonce"),
    [
        pytest.param("A23F2BCA452DDE01", CLIENT_NONCE, id="upper-case"),
        pytest.param("a23f2bca452dde01", CLIENT_NONCE, id="lower-case"),
        pytest.param("a23F2bCA452dDE01", CLIENT_NONCE, id="mixed-case"),
        pytest.param("A23F2BCA452DDE0", None, id="15-digits"),
        pytest.param("A23F2BCA452DDE011", None, id="17-digits"),
        pytest.param("G23F2BCA452DDE01", None, id="not-hex"),
        pytest.param("A23F2BCA 452DDE01", None, id="inner-space"),
        pytest.param("0xA23F2BCA452DDE", None, id="0x-prefix"),
        pytest.param("", None, id="empty"),
        pytest.param("A23F2BCA452DDE01\n", None, id="trailing-newline"),
        pytest.param("\uff21" * 16, None, id="fullwidth-digits"),
    ],
)
def test_parse_nonce_accepts_exactly_16_hex_digits(value: str, nonce: bytes | None) -> None:
    assert parse_nonce(value) == nonce


def test_new_nonce_takes_8_octets_from_secrets_token_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = []

    def token_bytes(size: int) -> bytes:
        calls.append(size)
        return CLIENT_NONCE

    monkeypatch.setattr(handshake.secrets, "token_bytes", token_bytes)
    assert new_nonce() == CLIENT_NONCE
    assert calls == [8]


def test_new_nonce_is_random() -> None:
    nonces = {new_nonce() for _ in range(16)}
    assert len(nonces) == 16
    assert all(len(nonce) == 8 for nonce in nonces)


@pytest.mark.parametrize(
    "resource",
    [
        "/",
        "/demo",
        "/chat?room=a&user=b",
        "/a/b/c",
        "/%7E/%41",
        "/caf%C3%A9",
        "/%2",
        "/a;b=c,d@e!f$g'h(i)j*k+l~m",
    ],
)
def test_invalid_resource_accepts_a_valid_resource_name(resource: str) -> None:
    assert invalid_resource(resource) is None


FORBIDDEN = "it must not contain ':', spaces or control characters, even %-encoded"


@pytest.mark.parametrize(
    ("resource", "problem"),
    [
        pytest.param("demo", "it must start with '/'", id="relative"),
        pytest.param("", "it must start with '/'", id="empty"),
        pytest.param("*", "it must start with '/'", id="asterisk"),
        pytest.param("http://example.com/", "it must start with '/'", id="absolute-form"),
        pytest.param("/a:b", FORBIDDEN, id="colon"),
        pytest.param("/a?b=c:d", FORBIDDEN, id="colon-in-query"),
        pytest.param("/a b", FORBIDDEN, id="space"),
        pytest.param("/a\tb", FORBIDDEN, id="tab"),
        pytest.param("/a\r\nb", FORBIDDEN, id="crlf"),
        pytest.param("/a\x00b", FORBIDDEN, id="nul"),
        pytest.param("/a\x7fb", FORBIDDEN, id="del"),
        pytest.param("/a%20b", FORBIDDEN, id="encoded-space"),
        pytest.param("/a%3Ab", FORBIDDEN, id="encoded-colon"),
        pytest.param("/a%3ab", FORBIDDEN, id="encoded-colon-lower-case"),
        pytest.param("/a%0Ab", FORBIDDEN, id="encoded-lf"),
        pytest.param("/a%0db", FORBIDDEN, id="encoded-cr-lower-case"),
        pytest.param("/a%00b", FORBIDDEN, id="encoded-nul"),
        pytest.param("/a%1Fb", FORBIDDEN, id="encoded-unit-separator"),
        pytest.param("/a%7Fb", FORBIDDEN, id="encoded-del"),
    ],
)
def test_invalid_resource_names_the_problem(resource: str, problem: str) -> None:
    assert invalid_resource(resource) == problem


@pytest.mark.parametrize(
    "name", ["sample", "chat", "a", "Z9", "v1/json", "my_proto-2", "A-Za-z0-9/_-"]
)
def test_valid_subprotocol_accepts_the_drafts_characters(name: str) -> None:
    assert valid_subprotocol(name)


@pytest.mark.parametrize(
    "name",
    ["", "a b", "a,b", "a:b", "a.b", "a;b", "a\r\nX: y", "caf\u00e9", "a\x00", "sample "],
)
def test_valid_subprotocol_refuses_other_characters(name: str) -> None:
    assert not valid_subprotocol(name)


@pytest.mark.parametrize(
    ("value", "tokens"),
    [
        ("Upgrade", {"upgrade"}),
        ("keep-alive, Upgrade", {"keep-alive", "upgrade"}),
        ("  UPGRADE  ,close", {"upgrade", "close"}),
        ("", {""}),
    ],
)
def test_header_tokens_splits_on_commas_and_lowers_case(value: str, tokens: set[str]) -> None:
    assert header_tokens(value) == tokens
