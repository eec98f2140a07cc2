"""Per-connection rate limits, for every service: a token bucket per connection.

The buckets are the one piece of per-connection state a service keeps in memory: a
restarted service, or the replica that takes a connection over, starts it with a full
bucket. A full bucket is the same as none, so full ones are dropped from time to time.
"""

from __future__ import annotations

from bus.rates import TokenBucket

from .messages import ClientError

__all__ = ["DEFAULT_BURST", "DEFAULT_RATE", "RATE_LIMITED", "RateLimits", "TokenBucket"]

#: The error code for a message over its connection's rate.
RATE_LIMITED = "rate_limited"
#: Messages per second a connection may send, on average, and at once.
DEFAULT_RATE = 5.0
DEFAULT_BURST = 10


class RateLimits:
    """Each connection's messages per second: ``rate`` on average, ``burst`` at once.

    Timed by when the gateway received a message, not when it is handled: a replica
    taking a connection over handles what it missed at once, yet the client was not fast.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.buckets: dict[str, TokenBucket] = {}

    def check(self, conn: str, received_at: float) -> None:
        """Count a message of ``conn`` received at ``received_at``.

        Raises:
            ClientError: ``rate_limited``: the connection is over its rate; the message
                is to be dropped.
        """
        bucket = self.buckets.get(conn)
        if bucket is None:
            bucket = self.buckets[conn] = TokenBucket(
                rate=self.rate, burst=self.burst, updated=received_at
            )
        if not bucket.take(received_at):
            raise ClientError(
                f"more than {self.rate:g} messages per second; this one was dropped",
                code=RATE_LIMITED,
            )

    def forget(self, conn: str) -> None:
        """``conn`` closed: drop its bucket."""
        self.buckets.pop(conn, None)

    def drop_full(self, now: float | None = None) -> None:
        """Drop the full buckets: those of the connections that went quiet, closed, or are
        now handled by another replica."""
        self.buckets = {
            conn: bucket for conn, bucket in self.buckets.items() if not bucket.is_full(now)
        }
