"""Tests of bus.rates: a token bucket, by the clock given."""

from __future__ import annotations

from bus.rates import TokenBucket


def test_a_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, updated=100.0)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(100.5) is True  # One token back after half a second.
    assert bucket.take(100.5) is False
    assert [bucket.take(200.0) for _ in range(4)] == [True, True, True, False]


def test_a_token_bucket_loses_nothing_when_the_clock_steps_back() -> None:
    bucket = TokenBucket(rate=5.0, burst=3, updated=100.0)
    assert bucket.take(100.0)
    assert [bucket.take(90.0) for _ in range(3)] == [True, True, False]  # 10 s back.
    assert bucket.take(100.2) is True  # One token back, counted from 100.0.


def test_a_token_bucket_is_full_again_once_it_has_refilled() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, updated=100.0)
    assert bucket.is_full(100.0)
    assert bucket.take(100.0)
    assert not bucket.is_full(100.4)
    assert bucket.is_full(100.5)
