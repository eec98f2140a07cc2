"""Tests of gateway.origins: which pages' origins may open connections."""

from __future__ import annotations

import pytest

from gateway.origins import ANY, DEVELOPMENT, OriginPolicy

DEFAULT = OriginPolicy()


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("http://chat.example:4502", "chat.example:4502"),
        ("https://chat.example", "chat.example"),
        ("https://chat.example", "chat.example:443"),
        ("http://chat.example:80", "chat.example"),
        ("HTTP://Chat.Example", "chat.example"),
        ("http://[2001:db8::1]:4502", "[2001:db8::1]:4502"),
    ],
)
def test_the_gateway_s_own_origin_is_accepted_whatever_name_it_is_reached_by(
    origin: str, host: str
) -> None:
    assert DEFAULT.refusal(origin, host) is None
    assert OriginPolicy(()).refusal(origin, host) is None


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("http://evil.example", "chat.example"),
        ("http://chat.example:8080", "chat.example:4502"),
        ("https://chat.example", "chat.example:80"),  # another scheme's default port
        ("http://chat.example.evil.example", "chat.example"),
        ("null", "chat.example"),
        ("chat.example", "chat.example"),
        ("http://chat.example/page", "chat.example"),
        ("ftp://chat.example", "chat.example"),
        ("http://chat.example:99999", "chat.example"),
        ("", "chat.example"),
    ],
)
def test_other_sites_null_and_what_is_no_origin_are_refused_with_a_reason(
    origin: str, host: str
) -> None:
    assert DEFAULT.refusal(origin, host) == f"origin {origin} is not allowed"


def test_a_request_without_origin_comes_from_a_program_and_is_accepted() -> None:
    assert OriginPolicy(()).refusal(None, "chat.example") is None


@pytest.mark.parametrize(
    "origin",
    ["http://localhost:5173", "https://localhost", "http://127.0.0.1:3000", "http://[::1]:8000"],
)
def test_by_default_pages_served_from_this_machine_are_accepted_on_any_port(origin: str) -> None:
    assert DEFAULT.refusal(origin, "chat.example") is None
    assert OriginPolicy(()).refusal(origin, "chat.example") is not None


def test_listed_origins_are_accepted_on_their_port_or_any_port_with_a_star() -> None:
    policy = OriginPolicy(("https://app.example", "http://dev.example:*", "null"))
    assert policy.refusal("https://app.example", "gw.example") is None
    assert policy.refusal("https://app.example:443", "gw.example") is None
    assert policy.refusal("https://app.example:8443", "gw.example") is not None
    assert policy.refusal("http://app.example", "gw.example") is not None
    assert policy.refusal("http://dev.example:1234", "gw.example") is None
    assert policy.refusal("null", "gw.example") is None
    assert policy.refusal("http://localhost:5173", "gw.example") is not None


def test_a_star_accepts_every_origin() -> None:
    assert OriginPolicy((ANY,)).refusal("null", "gw.example") is None
    assert OriginPolicy((ANY,)).refusal("http://evil.example", "gw.example") is None


def test_a_host_header_that_is_no_host_matches_no_origin() -> None:
    assert DEFAULT.refusal("http://chat.example", "chat.example:port") is not None
    assert DEFAULT.refusal("http://chat.example", "") is not None


@pytest.mark.parametrize(
    "pattern", ["evil.example", "http://", "http://a.example/path", "*.example"]
)
def test_a_pattern_that_is_no_origin_is_an_error(pattern: str) -> None:
    with pytest.raises(ValueError, match="is not an origin"):
        OriginPolicy((pattern,))


def test_the_development_origins_are_localhost_s_in_both_schemes() -> None:
    assert len(DEVELOPMENT) == 6
    assert "http://localhost:*" in DEVELOPMENT
    assert "https://[::1]:*" in DEVELOPMENT
