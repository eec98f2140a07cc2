"""What ``wslab chat`` and ``wslab quotes`` share to stay connected: reconnection delays."""

from __future__ import annotations

import itertools

from client.cli.reconnect import backoff


def test_reconnection_delays_double_up_to_a_cap_each_jittered_down_by_up_to_half() -> None:
    slowest = list(itertools.islice(backoff(0.5, 10, rand=lambda: 0.0), 7))
    assert slowest == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    fastest = list(itertools.islice(backoff(0.5, 10, rand=lambda: 1.0), 3))
    assert fastest == [0.25, 0.5, 1.0]
