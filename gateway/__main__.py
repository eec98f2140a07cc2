"""``python -m gateway``: run the gateway with uvicorn."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from .app import create_app
from .settings import ENVIRONMENT, Settings


def main() -> None:
    epilog = "environment variables:\n" + "\n".join(
        f"  {name:24} {help} (default: {default})" for name, (default, help) in ENVIRONMENT.items()
    )
    argparse.ArgumentParser(
        prog="python -m gateway",
        description="Serve the draft protocol at /chat and /stocks and relay over Redis.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings.from_env()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        http="gateway.draft:HTTPProtocol",
        ws="gateway.draft:DraftProtocol",
        log_level="info",
    )


if __name__ == "__main__":
    main()
