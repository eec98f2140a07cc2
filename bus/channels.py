"""Redis names shared by the gateway and the services: the one place they are spelled.

See docs/BUS.md.
"""

from __future__ import annotations

__all__ = [
    "PREFIX",
    "QUOTES_KEY",
    "command_channel",
    "gateway_alive_key",
    "gateway_channel",
    "service_key",
    "service_replicas",
    "service_stream",
    "topic_channel",
]

PREFIX = "wslab"

QUOTES_KEY = f"{PREFIX}:stocks:quotes"
"""The latest quote of each symbol: a hash, symbol -> the quote's JSON text, written by the
stock service with each tick and read by the gateway's ``GET /api/quotes``."""


def service_key(service: str, name: str) -> str:
    """A key of ``service``'s own: ``wslab:svc:chat:<name>``."""
    return f"{PREFIX}:svc:{service}:{name}"


def service_stream(service: str) -> str:
    """The stream gateways append envelopes for ``service`` to: ``wslab:svc:chat:in``."""
    return service_key(service, "in")


def service_replicas(service: str) -> str:
    """The sorted set of ``service``'s live replicas, each scored by the Unix time its
    registration expires: ``wslab:svc:chat:replicas``. Gateways append envelopes only while
    one is live."""
    return service_key(service, "replicas")


def gateway_channel(gateway_id: str) -> str:
    """One gateway's own channel, where only it publishes (its readiness canary):
    ``wslab:gw:<id>``."""
    return f"{PREFIX}:gw:{gateway_id}"


def command_channel(gateway_id: str, service: str) -> str:
    """Where ``service`` sends commands to one gateway: ``wslab:gw:<id>:<service>``.

    One per service, so that Redis's ACL lets each publish only its own (bus.credentials)
    and the gateway carries out a service's commands only for that service's connections.
    """
    return f"{gateway_channel(gateway_id)}:{service}"


def topic_channel(topic: str) -> str:
    """Where a topic's messages go to every gateway with subscribers: ``wslab:topic:<topic>``."""
    return f"{PREFIX}:topic:{topic}"


def gateway_alive_key(gateway_id: str) -> str:
    """The key a running gateway keeps set, with an expiry: ``wslab:gw:<id>:alive``."""
    return f"{PREFIX}:gw:{gateway_id}:alive"
