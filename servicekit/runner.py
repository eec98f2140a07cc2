"""``python -m <service>``: settings, logging, signals, and the exit status.

Each service's ``__main__`` is one call::

    sys.exit(servicekit.main("chat", ChatHandlers, settings_cls=ServiceSettings))
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from typing import TypeVar

from bus.settings import load_settings

from .service import Handlers, Service
from .settings import ServiceSettings

__all__ = ["main", "serve"]

_S = TypeVar("_S", bound=ServiceSettings)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def main(
    name: str,
    make_handlers: Callable[[_S], Handlers],
    *,
    settings_cls: type[_S],
    prog: str | None = None,
    description: str | None = None,
    argv: Sequence[str] | None = None,
) -> int:
    """Run a service until SIGTERM or SIGINT; return the exit status.

    Args:
        name: the service's name on the bus, for example ``chat``.
        make_handlers: builds the service's handlers from its settings.
        settings_cls: the service's settings, a :class:`ServiceSettings` dataclass.
        prog: the program name for ``--help``.
        description: the paragraph for ``--help``.
        argv: the arguments, without the program name; ``sys.argv[1:]`` if None.

    Returns:
        0 after a graceful stop, 1 if the service failed. ``--help`` and bad settings
        exit through ``argparse`` (0 and 2).
    """
    settings = load_settings(settings_cls, argv, prog=prog, description=description)
    # DEBUG is for wslab's own loggers; redis and asyncio stay at INFO.
    logging.basicConfig(
        format=LOG_FORMAT, level=max(logging.INFO, logging.getLevelName(settings.log_level))
    )
    logging.getLogger("wslab").setLevel(settings.log_level)
    try:
        asyncio.run(_serve(name, make_handlers(settings), settings))
    except Exception:  # Already logged.
        return 1
    return 0


async def _serve(name: str, handlers: Handlers, settings: ServiceSettings) -> None:
    # The service is made inside the event loop, where its Redis client lives.
    try:
        service = Service(name, handlers, settings)
    except Exception as exc:  # For example, REDIS_URL is not a Redis URL.
        logging.getLogger(f"wslab.{name}").error("! %s service cannot start: %s", name, exc)
        raise
    await serve(service)


async def serve(service: Service) -> None:
    """Run ``service`` until SIGTERM or SIGINT, which stop it gracefully."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, service.stop)
    try:
        await service.run()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
