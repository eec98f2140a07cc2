"""The wslab chat service, run with ``python -m chat_service``.

Clients of the gateway's ``/chat`` path join rooms, ``lobby`` by default; see docs/MESSAGES.md.
"""

from __future__ import annotations

from .service import NAME, ChatHandlers, ChatSettings, main

__all__ = ["NAME", "ChatHandlers", "ChatSettings", "main"]
