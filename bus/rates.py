"""A token bucket: a rate on average and a burst at once, by the clock given.

The services limit each connection's messages with it (servicekit.RateLimits); the gateway
limits each address's handshakes (gateway.addresses).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["TokenBucket"]


@dataclass(kw_only=True)
class TokenBucket:
    """A token bucket: ``burst`` tokens, refilled at ``rate`` per second.

    Attributes:
        rate: tokens added per second.
        burst: the most tokens the bucket holds; it starts full.
        updated: when it was last used (Unix time, seconds).
    """

    rate: float
    burst: int
    tokens: float = field(init=False)
    updated: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def take(self, now: float | None = None) -> bool:
        """Take a token and return True, or return False if there is none.

        A ``now`` before ``updated`` (the gateway's clock stepped back) refills nothing and
        takes nothing away: the bucket goes on from ``updated``.
        """
        now = time.time() if now is None else now
        self.tokens = self._tokens(now)
        self.updated = max(self.updated, now)
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def is_full(self, now: float | None = None) -> bool:
        """Return True if the bucket has refilled to ``burst``."""
        return self._tokens(time.time() if now is None else now) >= self.burst

    def _tokens(self, now: float) -> float:
        return min(self.burst, self.tokens + max(0.0, now - self.updated) * self.rate)
