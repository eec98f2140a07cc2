"""Opening the byte stream a connection runs on: TCP, through a proxy, and TLS."""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from typing import Literal

from python_socks.async_.asyncio import Proxy

from wsdraft import WebSocketURI

__all__ = ["ProxySetting", "make_ssl_context", "open_stream", "proxy_for"]

ProxySetting = str | Literal[True] | None
"""A proxy URL (``http://``, ``socks5://`` ...), True to read the environment, or None."""

# asyncio's StreamReader buffers up to twice this before it stops reading the socket.
_STREAM_LIMIT = 2**16


def make_ssl_context(*, cafile: str | None = None, insecure: bool = False) -> ssl.SSLContext:
    """Return a TLS context that verifies servers against the system's CAs or ``cafile``.

    Args:
        cafile: a PEM file of CA certificates to trust instead of the system's.
        insecure: skip certificate and host name verification (for testing only).
    """
    context = ssl.create_default_context(cafile=cafile)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def proxy_for(uri: WebSocketURI, setting: ProxySetting) -> str | None:
    """Return the proxy URL to reach ``uri`` through, if any.

    With ``setting=True`` it follows the environment like curl and pip do: ``WSS_PROXY``,
    ``HTTPS_PROXY`` or ``ALL_PROXY`` for ``wss://``; ``WS_PROXY``, ``HTTP_PROXY`` or
    ``ALL_PROXY`` for ``ws://``; hosts listed in ``NO_PROXY`` are reached directly.
    """
    if setting is not True:
        return setting
    proxies = urllib.request.getproxies()
    schemes = ("wss", "https", "all") if uri.secure else ("ws", "http", "all")
    url = next((proxies[scheme] for scheme in schemes if scheme in proxies), None)
    if url is None or urllib.request.proxy_bypass(f"{uri.host}:{uri.port}"):
        return None
    return url


async def open_stream(
    uri: WebSocketURI,
    *,
    proxy: str | None,
    ssl_context: ssl.SSLContext | None,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a TCP stream to ``uri``'s host, through ``proxy`` if given, with TLS for wss.

    Raises:
        OSError: the host or the proxy cannot be reached, or TLS failed (ssl.SSLError).
        python_socks.ProxyError: the proxy refused to connect us.
    """
    if uri.secure and ssl_context is None:
        ssl_context = make_ssl_context()
    tls = ssl_context if uri.secure else None
    server_hostname = uri.host if uri.secure else None
    if proxy is None:
        return await asyncio.open_connection(
            uri.host, uri.port, ssl=tls, server_hostname=server_hostname, limit=_STREAM_LIMIT
        )
    sock = await Proxy.from_url(proxy).connect(dest_host=uri.host, dest_port=uri.port)
    return await asyncio.open_connection(
        sock=sock, ssl=tls, server_hostname=server_hostname, limit=_STREAM_LIMIT
    )
