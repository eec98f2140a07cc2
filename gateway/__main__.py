"""``python -m gateway``: run the gateway with uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from bus.settings import load_settings

from .app import create_app
from .settings import Settings


def main() -> None:
    settings = load_settings(
        Settings,
        prog="python -m gateway",
        description="Serve WebSocket (RFC 6455 and the 2010 draft): relay each route"
        " (/chat, /stocks) over Redis, echo on the echo path (/echo).",
    )
    # DEBUG is for wslab's own loggers; uvicorn and redis stay at INFO.
    level = max(logging.INFO, logging.getLevelNamesMapping()[settings.log_level])
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("wslab").setLevel(settings.log_level)
    # websockets logs each connection's opening and closing at INFO.
    logging.getLogger("wslab.gateway.rfc6455").setLevel(max(logging.WARNING, level))
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        http="gateway.http:HTTPProtocol",
        ws="gateway.connection:Connection",
        ssl_certfile=settings.tls_cert or None,
        ssl_keyfile=settings.tls_key or None,
        timeout_keep_alive=settings.keepalive_timeout,
        # The client's address, for the per-address limits and the logs: X-Forwarded-For
        # only from a trusted proxy (uvicorn would trust 127.0.0.1's by default).
        proxy_headers=bool(settings.proxies),
        forwarded_allow_ips=settings.proxies or None,
        log_level=level,
    )


if __name__ == "__main__":
    main()
