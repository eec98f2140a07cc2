"""The wslab chat service, run with ``python -m chat_service``.

Clients of the gateway's ``/chat`` path join the room ``lobby``; see docs/MESSAGES.md.
"""

from __future__ import annotations

from .service import NAME, ChatHandlers, ChatSettings, main

__all__ = ["NAME", "ChatHandlers", "ChatSettings", "main"]
