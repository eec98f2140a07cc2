"""What one client address may open: connections at once and handshakes a second.

nginx's ``limit_conn`` and ``limit_req``, for WebSocket connections: an address holding
``max_connections`` open ones, or opening them faster than ``handshake_rate`` a second
(``handshake_burst`` at once), gets ``429`` with a reason until it is under its limits
again. The address is the ASGI scope's client: the peer's, or, from a trusted proxy
(``WSLAB_TRUSTED_PROXIES``, given to uvicorn's ``forwarded_allow_ips``), the one it names
in ``X-Forwarded-For``. The decisions are pure; the clock is the caller's.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from bus.rates import TokenBucket

__all__ = ["AddressLimits", "parse_networks"]


@dataclass
class AddressLimits:
    """Per-address limits on WebSocket connections (see the module's documentation).

    Attributes:
        max_connections: WebSocket connections one address may hold open.
        handshake_rate: handshakes a second one address may make, on average.
        handshake_burst: handshakes one address may make at once.
        open: the connections each address holds now (none: not a key).
        buckets: each address's handshake bucket; full ones are dropped as the table grows.
    """

    max_connections: int = 1000
    handshake_rate: float = 100.0
    handshake_burst: int = 1000
    open: dict[str, int] = field(default_factory=dict)
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    # The table's size after its last sweep: swept again when it has doubled.
    _swept_at: int = field(default=0, repr=False)

    def admit(self, address: str, now: float) -> str | None:
        """Count a handshake from ``address`` at ``now`` (seconds on a monotonic clock):
        None, and the connection counts as open until :meth:`release`; or why not."""
        held = self.open.get(address, 0)
        if held >= self.max_connections:
            return f"too many connections from {address} (at most {self.max_connections})"
        bucket = self.buckets.get(address)
        if bucket is None:
            self._sweep(now)
            bucket = TokenBucket(rate=self.handshake_rate, burst=self.handshake_burst, updated=now)
            self.buckets[address] = bucket
        if not bucket.take(now):
            return f"too many handshakes from {address} (at most {self.handshake_rate:g} a second)"
        self.open[address] = held + 1
        return None

    def release(self, address: str) -> None:
        """A connection :meth:`admit` let in from ``address`` ended."""
        held = self.open.pop(address) - 1
        if held:
            self.open[address] = held

    def _sweep(self, now: float) -> None:
        """Drop full buckets (as good as none) once the table has doubled since the last
        sweep: many addresses cost memory in proportion to those still counted."""
        if len(self.buckets) >= max(2 * self._swept_at, 1024):
            self.buckets = {a: b for a, b in self.buckets.items() if not b.is_full(now)}
            self._swept_at = len(self.buckets)


def parse_networks(value: str) -> list[str]:
    """The proxies of ``WSLAB_TRUSTED_PROXIES``: comma-separated addresses or networks
    (``10.0.0.0/8``), or ``*`` for any; empty: none.

    Raises:
        ValueError: one is neither (uvicorn would take it as a host name silently).
    """
    proxies = [part.strip() for part in value.split(",") if part.strip()]
    for proxy in proxies:
        if proxy != "*":
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an address or a network") from None
    return proxies
