"""Where the gateway's services are: their URLs."""

from __future__ import annotations

import pytest

from client.services import service_url


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("ws://h:4502", "ws://h:4502/stocks"),
        ("ws://h:4502/", "ws://h:4502/stocks"),
        ("wss://h/lab/stocks", "wss://h/lab/stocks"),
        ("ws://h/stocks/", "ws://h/stocks"),
        ("ws://h/mystocks", "ws://h/mystocks/stocks"),
    ],
)
def test_a_service_url_is_the_gateway_url_with_the_service_path_once(base: str, url: str) -> None:
    assert service_url(base, "/stocks") == url


def test_a_service_url_carries_a_query() -> None:
    assert service_url("ws://h:1", "/chat", "nick=a") == "ws://h:1/chat?nick=a"
