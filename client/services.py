"""Where the gateway's services are: ``/chat`` and ``/stocks`` under the gateway's URL."""

from __future__ import annotations

__all__ = ["service_url"]


def service_url(base: str, path: str, query: str = "") -> str:
    """The URL of the gateway's service at ``path`` (``/chat``), with ``query`` if any.

    ``base`` is the gateway (``ws://localhost:4502``) or already the service
    (``ws://localhost:4502/chat``).
    """
    url = base.rstrip("/")
    if not url.endswith(path):
        url += path
    return f"{url}?{query}" if query else url
