from __future__ import annotations

import ssl

import pytest

from client.network import make_ssl_context, proxy_for
from wsdraft import parse_uri


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http", "https", "all", "ws", "wss", "no"):
        monkeypatch.delenv(f"{name}_proxy", raising=False)
        monkeypatch.delenv(f"{name.upper()}_PROXY", raising=False)


def test_ws_urls_use_http_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://secure-proxy:3128")
    assert proxy_for(parse_uri("ws://example.com/chat"), True) == "http://proxy:3128"
    assert proxy_for(parse_uri("wss://example.com/chat"), True) == "http://secure-proxy:3128"


def test_no_proxy_lists_hosts_reached_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.internal")
    assert proxy_for(parse_uri("ws://localhost:4502/chat"), True) is None
    assert proxy_for(parse_uri("ws://gateway.internal/chat"), True) is None
    assert proxy_for(parse_uri("ws://example.com/chat"), True) == "http://proxy:3128"


def test_an_explicit_proxy_or_none_overrides_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy:3128")
    uri = parse_uri("ws://example.com/chat")
    assert proxy_for(uri, "socks5://other:1080") == "socks5://other:1080"
    assert proxy_for(uri, None) is None


def test_without_proxy_variables_connections_are_direct() -> None:
    assert proxy_for(parse_uri("ws://example.com/chat"), True) is None


def test_ssl_context_verifies_by_default_and_not_in_insecure_mode() -> None:
    assert make_ssl_context().verify_mode is ssl.CERT_REQUIRED
    insecure = make_ssl_context(insecure=True)
    assert insecure.verify_mode is ssl.CERT_NONE
    assert not insecure.check_hostname
