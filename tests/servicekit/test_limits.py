"""Tests of servicekit.limits: each connection's rate, by the clock given."""

from __future__ import annotations

import pytest

from servicekit import ClientError, RateLimits


def test_rate_limits_refuse_a_connection_over_its_rate_and_not_the_others() -> None:
    limits = RateLimits(rate=1.0, burst=2)
    limits.check("a", 100.0)
    limits.check("a", 100.0)
    with pytest.raises(ClientError, match="more than 1 messages per second") as excinfo:
        limits.check("a", 100.0)
    assert excinfo.value.code == "rate_limited"
    limits.check("b", 100.0)  # Another connection has its own bucket.
    limits.check("a", 101.0)  # A second later, one more.


def test_rate_limits_forget_closed_connections_and_drop_full_buckets() -> None:
    limits = RateLimits(rate=1.0, burst=2)
    limits.check("a", 100.0)
    limits.check("b", 100.0)
    limits.forget("a")
    assert set(limits.buckets) == {"b"}
    limits.drop_full(100.5)
    assert set(limits.buckets) == {"b"}
    limits.drop_full(101.0)
    assert limits.buckets == {}
