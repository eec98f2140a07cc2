"""Redis names shared by the gateway and the services: the one place they are spelled.

See docs/BUS.md.
"""

from __future__ import annotations

__all__ = [
    "PREFIX",
    "QUOTES_KEY",
    "gateway_alive_key",
    "gateway_channel",
    "service_channel",
    "topic_channel",
]

PREFIX = "wslab"

QUOTES_KEY = f"{PREFIX}:stocks:quotes"
"""The latest quote of each symbol: a hash, symbol -> the quote's JSON text, written by the
stock service with each tick and read by the gateway's ``GET /api/quotes``."""


def service_channel(service: str) -> str:
    """Where gateways publish envelopes for ``service``: ``wslab:svc:chat``."""
    return f"{PREFIX}:svc:{service}"


def gateway_channel(gateway_id: str) -> str:
    """Where services send commands to one gateway: ``wslab:gw:<id>``."""
    return f"{PREFIX}:gw:{gateway_id}"


def topic_channel(topic: str) -> str:
    """Where a topic's messages go to every gateway with subscribers: ``wslab:topic:<topic>``."""
    return f"{PREFIX}:topic:{topic}"


def gateway_alive_key(gateway_id: str) -> str:
    """The key a running gateway keeps set, with an expiry: ``wslab:gw:<id>:alive``."""
    return f"{PREFIX}:gw:{gateway_id}:alive"
