"""What ``wslab chat`` and ``wslab quotes`` share: service URLs and reconnection delays."""

from __future__ import annotations

import itertools

import pytest

from client.services import backoff, service_url


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


def test_reconnection_delays_double_up_to_a_cap_each_jittered_down_by_up_to_half() -> None:
    slowest = list(itertools.islice(backoff(0.5, 10, rand=lambda: 0.0), 7))
    assert slowest == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    fastest = list(itertools.islice(backoff(0.5, 10, rand=lambda: 1.0), 3))
    assert fastest == [0.25, 0.5, 1.0]
