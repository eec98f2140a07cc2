"""The contract between the gateway and the services on Redis pub/sub (docs/BUS.md).

Gateways publish :class:`Envelope` objects about their client connections to a service's
channel; services answer with :class:`Command` objects on the gateway's channel, or publish
to a topic that every gateway fans out to its subscribed connections.

:mod:`bus.settings` (not imported here) reads every program's settings from environment
variables.
"""

from __future__ import annotations

from .channels import (
    QUOTES_KEY,
    gateway_alive_key,
    gateway_channel,
    service_channel,
    topic_channel,
)
from .messages import (
    BusError,
    Canary,
    Close,
    Command,
    Envelope,
    Send,
    Subscribe,
    Unsubscribe,
    decode_command,
    encode_command,
)
from .publisher import Overloaded, Publisher
from .subscriber import Subscriber
from .tasks import cancel_and_wait

__all__ = [
    "QUOTES_KEY",
    "BusError",
    "Canary",
    "Close",
    "Command",
    "Envelope",
    "Overloaded",
    "Publisher",
    "Send",
    "Subscribe",
    "Subscriber",
    "Unsubscribe",
    "cancel_and_wait",
    "decode_command",
    "encode_command",
    "gateway_alive_key",
    "gateway_channel",
    "service_channel",
    "topic_channel",
]
