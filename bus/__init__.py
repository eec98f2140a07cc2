"""The contract between the gateway and the services on Redis (docs/BUS.md).

Gateways append :class:`Envelope` objects about their client connections to a service's
stream (:mod:`bus.inbox`); services answer with :class:`Command` objects on the gateway's
channel, or publish to a topic that every gateway fans out to its subscribed connections.

:mod:`bus.settings` (not imported here) reads every program's settings from environment
variables.
"""

from __future__ import annotations

from .channels import (
    QUOTES_KEY,
    command_channel,
    gateway_alive_key,
    gateway_channel,
    service_key,
    service_replicas,
    service_stream,
    topic_channel,
)
from .clients import redis_client
from .inbox import (
    APPEND,
    Appended,
    Entry,
    StreamId,
    StreamReader,
    entries_after,
    format_id,
    parse_id,
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
    decode_topic,
    encode_command,
    skipping,
)
from .publisher import Overloaded, Publisher
from .subscriber import Subscriber
from .tasks import cancel_and_wait

__all__ = [
    "APPEND",
    "QUOTES_KEY",
    "Appended",
    "BusError",
    "Canary",
    "Close",
    "Command",
    "Entry",
    "Envelope",
    "Overloaded",
    "Publisher",
    "Send",
    "StreamId",
    "StreamReader",
    "Subscribe",
    "Subscriber",
    "Unsubscribe",
    "cancel_and_wait",
    "command_channel",
    "decode_command",
    "decode_topic",
    "encode_command",
    "entries_after",
    "format_id",
    "gateway_alive_key",
    "gateway_channel",
    "parse_id",
    "redis_client",
    "service_key",
    "service_replicas",
    "service_stream",
    "skipping",
    "topic_channel",
]
