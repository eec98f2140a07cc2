"""Tests of wsdraft.uri: ws:// and wss:// URLs and the draft's rule on resource names."""

from __future__ import annotations

import dataclasses

import pytest

from wsdraft import InvalidURI, ProtocolError, WebSocketURI, parse_uri


@pytest.mark.parametrize(
    ("uri", "parsed"),
    [
        pytest.param(
            "ws://example.com/demo",
            WebSocketURI(secure=False, host="example.com", port=80, resource="/demo"),
            id="drafts-example",
        ),
        pytest.param(
            "ws://example.com",
            WebSocketURI(secure=False, host="example.com", port=80, resource="/"),
            id="no-path",
        ),
        pytest.param(
            "wss://example.com/a?b=c",
            WebSocketURI(secure=True, host="example.com", port=443, resource="/a?b=c"),
            id="secure-with-query",
        ),
        pytest.param(
            "ws://Example.COM:8080/x",
            WebSocketURI(secure=False, host="example.com", port=8080, resource="/x"),
            id="port-and-upper-case-host",
        ),
        pytest.param(
            "ws://h?x=1",
            WebSocketURI(secure=False, host="h", port=80, resource="/?x=1"),
            id="query-without-path",
        ),
        pytest.param(
            "ws://[::1]:9000/",
            WebSocketURI(secure=False, host="::1", port=9000, resource="/"),
            id="ipv6",
        ),
        pytest.param(
            "ws://h/caf\u00e9?q=\u00e9",
            WebSocketURI(secure=False, host="h", port=80, resource="/caf%C3%A9?q=%C3%A9"),
            id="non-ascii-is-percent-encoded",
        ),
        pytest.param(
            'ws://h/a"b',
            WebSocketURI(secure=False, host="h", port=80, resource="/a%22b"),
            id="unsafe-ascii-is-percent-encoded",
        ),
        pytest.param(
            "ws://h/a%41%2F?b=c?d",
            WebSocketURI(secure=False, host="h", port=80, resource="/a%41%2F?b=c?d"),
            id="existing-escapes-are-kept",
        ),
    ],
)
def test_parse_uri_parses_a_websocket_url(uri: str, parsed: WebSocketURI) -> None:
    assert parse_uri(uri) == parsed


@pytest.mark.parametrize(
    ("uri", "authority", "location", "origin"),
    [
        (
            "ws://example.com/demo",
            "example.com",
            "ws://example.com/demo",
            "http://example.com",
        ),
        (
            "ws://example.com:80/demo",
            "example.com",
            "ws://example.com/demo",
            "http://example.com",
        ),
        (
            "ws://example.com:443/",
            "example.com:443",
            "ws://example.com:443/",
            "http://example.com:443",
        ),
        (
            "wss://example.com:443/a?b",
            "example.com",
            "wss://example.com/a?b",
            "https://example.com",
        ),
        (
            "wss://example.com:80/",
            "example.com:80",
            "wss://example.com:80/",
            "https://example.com:80",
        ),
        ("ws://[::1]:9000/x", "[::1]:9000", "ws://[::1]:9000/x", "http://[::1]:9000"),
        ("wss://[::1]/", "[::1]", "wss://[::1]/", "https://[::1]"),
    ],
)
def test_uri_gives_host_header_location_and_origin_with_non_default_ports(
    uri: str, authority: str, location: str, origin: str
) -> None:
    parsed = parse_uri(uri)
    assert parsed.authority == authority
    assert parsed.location == location
    assert parsed.origin == origin


CONTROL_PROBLEM = "it contains spaces or control characters"
RESOURCE_PROBLEM = (
    "invalid resource name: it must not contain ':', spaces or control characters, even %-encoded"
)


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        pytest.param("http://h/", "the scheme must be ws or wss", id="http"),
        pytest.param("WS+x://h/", "the scheme must be ws or wss", id="other-scheme"),
        pytest.param("", "the scheme must be ws or wss", id="empty"),
        pytest.param("ws:/h", "it has no host", id="single-slash"),
        pytest.param("ws:///a", "it has no host", id="empty-host"),
        pytest.param("ws://h/#f", "a WebSocket URL has no fragment", id="fragment"),
        pytest.param("ws://h/#", "a WebSocket URL has no fragment", id="empty-fragment"),
        pytest.param(
            "ws://u:p@h/", "credentials in the URL are not supported", id="user-and-password"
        ),
        pytest.param("ws://u@h/", "credentials in the URL are not supported", id="user"),
        pytest.param(
            "ws://h:99999/", "its port is not a number from 0 to 65535", id="port-too-big"
        ),
        pytest.param("ws://h:x/", "its port is not a number from 0 to 65535", id="port-not-number"),
        pytest.param("ws://h/a b", CONTROL_PROBLEM, id="space"),
        pytest.param("ws://h/a\tb", CONTROL_PROBLEM, id="tab"),
        pytest.param("ws://h/a\nb", CONTROL_PROBLEM, id="newline"),
        pytest.param("ws://h/a:b", RESOURCE_PROBLEM, id="colon"),
        pytest.param("ws://h/?a=b:c", RESOURCE_PROBLEM, id="colon-in-query"),
        pytest.param("ws://h/a%20b", RESOURCE_PROBLEM, id="encoded-space"),
        pytest.param("ws://h/a%3Ab", RESOURCE_PROBLEM, id="encoded-colon"),
        pytest.param("ws://h/a%0d", RESOURCE_PROBLEM, id="encoded-cr"),
        pytest.param("ws://h/a\x00", CONTROL_PROBLEM, id="nul"),
        pytest.param("ws://h/a\x7f", RESOURCE_PROBLEM, id="del"),
        pytest.param("ws://h/a%7F", RESOURCE_PROBLEM, id="encoded-del"),
    ],
)
def test_parse_uri_refuses_an_unusable_url(uri: str, problem: str) -> None:
    with pytest.raises(InvalidURI) as exc_info:
        parse_uri(uri)
    assert exc_info.value.uri == uri
    assert exc_info.value.problem == problem
    assert str(exc_info.value) == f"{uri} is not a valid WebSocket URL: {problem}"


def test_invalid_uri_is_a_protocol_error_and_a_value_error() -> None:
    with pytest.raises(ValueError, match="the scheme must be ws or wss"):
        parse_uri("http://h/")
    assert issubclass(InvalidURI, ProtocolError)


def test_websocket_uri_is_immutable() -> None:
    parsed = parse_uri("ws://h/")
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.host = "other"  # type: ignore[misc]
