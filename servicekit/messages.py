"""Client-facing messages: JSON text, and the ``error`` message (docs/MESSAGES.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping

__all__ = ["BAD_REQUEST", "ClientError", "Message", "encode", "error"]

Message = str | Mapping[str, object]
"""What services send: text as is, or a JSON object that :func:`encode` serializes."""

BAD_REQUEST = "bad_request"
"""The error code for a message that is not valid for the service."""


def encode(message: Message) -> str:
    """Return the text a client receives for ``message``.

    A mapping becomes a JSON object, keys in their order, with ``json.dumps``' default
    separators, as in docs/MESSAGES.md; a string is sent unchanged.
    """
    if isinstance(message, str):
        return message
    text = json.dumps(message, ensure_ascii=False)
    try:
        text.encode()
    except UnicodeEncodeError:
        # A lone surrogate (JSON allows "\ud800") cannot travel as UTF-8: escape it.
        text = json.dumps(message)
    return text


def error(code: str, message: str) -> dict[str, str]:
    """Return an ``error`` message: ``{"type": "error", "code": ..., "message": ...}``."""
    return {"type": "error", "code": code, "message": message}


class ClientError(Exception):
    """Raised by a handler to answer the client with an ``error`` message.

    The service sends ``error(code, message)`` to the connection and logs no traceback:
    this is the client's mistake, not the service's.

    Args:
        message: a short lowercase explanation for the client.
        code: the error code, ``bad_request`` by default.
    """

    def __init__(self, message: str, *, code: str = BAD_REQUEST) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
