"""The settings every service shares, read with :mod:`bus.settings`.

A service subclasses :class:`ServiceSettings` with more fields made with
:func:`bus.settings.setting` (re-exported as ``servicekit.setting``), and
:func:`bus.settings.load_settings` reads them from the command line, the environment and
the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

from bus.settings import LOG_LEVELS, load_settings, setting

__all__ = ["LOG_LEVELS", "ServiceSettings", "load_settings", "setting"]


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    """What every service needs; a service subclasses it to add its own settings.

    Attributes:
        redis_url: the Redis holding the bus (``REDIS_URL``).
        health_file: the file touched while the service is connected to the bus
            (``WSLAB_HEALTH_FILE``); ``python -m servicekit.health`` checks it.
        heartbeat_interval: how often that file is touched, in seconds
            (``WSLAB_HEARTBEAT_INTERVAL``).
        log_level: ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR`` (``WSLAB_LOG_LEVEL``).
    """

    redis_url: str = setting(
        "REDIS_URL", "redis://localhost:6379/0", "the Redis server carrying the bus"
    )
    health_file: str = setting(
        "WSLAB_HEALTH_FILE", "/tmp/wslab-healthy", "touched while connected to the bus"
    )
    heartbeat_interval: float = setting(
        "WSLAB_HEARTBEAT_INTERVAL", 3.0, "seconds between two touches of the health file"
    )
    log_level: str = setting("WSLAB_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR")

    def __post_init__(self) -> None:
        if self.log_level not in LOG_LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}")
        if self.heartbeat_interval <= 0:
            raise ValueError("heartbeat interval must be positive")
