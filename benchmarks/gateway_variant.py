"""``python -m gateway`` with another event loop or HTTP parser, for benchmarks/side_by_side.py.

    python benchmarks/gateway_variant.py --loop asyncio --http h11

The same application and WebSocket class as ``python -m gateway`` (its settings from the
same environment variables), served by uvicorn with the loop and HTTP protocol asked for.
``--http h11`` is the gateway's own ``gateway.http:HTTPProtocol`` (uvicorn's h11
protocol with the handshake deadline); ``--http httptools`` is uvicorn's httptools
protocol as it is, without that deadline: the gateway has no httptools subclass.
"""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from bus.settings import load_settings
from gateway import Settings
from gateway.app import create_app

HTTP = {"h11": "gateway.http:HTTPProtocol", "httptools": "httptools"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"])
    parser.add_argument("--http", default="h11", choices=list(HTTP))
    args = parser.parse_args()
    settings = load_settings(Settings, [])
    logging.basicConfig(level=logging.WARNING)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        http=HTTP[args.http],
        ws="gateway.connection:Connection",
        loop=args.loop,
        log_level=logging.WARNING,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
