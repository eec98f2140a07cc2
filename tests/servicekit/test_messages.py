from __future__ import annotations

import json

from servicekit import BAD_REQUEST, ClientError, encode, error


def test_a_mapping_is_encoded_as_in_the_documentation() -> None:
    message = {"type": "welcome", "nick": "alice", "room": "lobby"}
    assert encode(message) == '{"type": "welcome", "nick": "alice", "room": "lobby"}'


def test_a_string_is_sent_unchanged() -> None:
    assert encode("hello {") == "hello {"


def test_non_ascii_text_is_kept_readable() -> None:
    assert encode({"text": "café ☕"}) == '{"text": "café ☕"}'


def test_a_lone_surrogate_is_escaped_so_the_text_is_valid_utf8() -> None:
    text = encode({"text": "a\ud800b"})
    text.encode()
    assert json.loads(text) == {"text": "a\ud800b"}


def test_an_error_has_a_type_a_code_and_a_message() -> None:
    assert error("unknown_symbol", "unknown symbol: FOO") == {
        "type": "error",
        "code": "unknown_symbol",
        "message": "unknown symbol: FOO",
    }


def test_a_client_error_is_a_bad_request_unless_told_otherwise() -> None:
    assert ClientError("nope").code == BAD_REQUEST == "bad_request"
    exc = ClientError("no such thing", code="unknown_symbol")
    assert (exc.code, exc.message, str(exc)) == ("unknown_symbol", "no such thing", "no such thing")
