"""The gateway's Prometheus metrics, served at ``GET /metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "BYTES_IN",
    "BYTES_OUT",
    "CONFLATED",
    "HANDSHAKES",
    "HTTP_REFUSALS",
    "MESSAGES_IN",
    "MESSAGES_OUT",
    "OPEN_CONNECTIONS",
    "PING_TIMEOUTS",
    "REDIS_ROUND_TRIP",
    "SLOW_CLOSES",
    "UNDELIVERED",
]

OPEN_CONNECTIONS = Gauge(
    "wslab_open_connections", "WebSocket connections open now, by protocol", ["protocol"]
)
HANDSHAKES = Counter(
    "wslab_handshakes",
    "Opening handshakes by protocol (rfc6455, draft, none), outcome (accepted, rejected,"
    " failed) and reason",
    ["protocol", "outcome", "reason"],
)
HTTP_REFUSALS = Counter(
    "wslab_http_refusals",
    "Connections refused or ended by the HTTP limits, by status (503: full, 431: head too"
    " large, 408: request too slow, 505: WebSocket over another HTTP version)",
    ["status"],
)
MESSAGES_IN = Counter("wslab_messages_in", "Messages received from clients")
MESSAGES_OUT = Counter("wslab_messages_out", "Messages sent to clients")
BYTES_IN = Counter("wslab_bytes_in", "Bytes received from clients, framing included")
BYTES_OUT = Counter("wslab_bytes_out", "Bytes sent to clients, framing included")
UNDELIVERED = Counter(
    "wslab_undelivered",
    "Client messages that reached no service, by reason (unavailable, bus_down)",
    ["reason"],
)
SLOW_CLOSES = Counter("wslab_slow_closes", "Clients closed because they read too slowly")
PING_TIMEOUTS = Counter(
    "wslab_ping_timeouts", "Clients closed because they did not answer a ping in time"
)
CONFLATED = Counter(
    "wslab_conflated_messages",
    "Conflated topic messages never sent to a slow client: a newer one of the topic replaced them",
)
REDIS_ROUND_TRIP = Histogram(
    "wslab_redis_round_trip_seconds",
    "Time for the readiness canary to go through Redis pub/sub and back",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
