"""The settings every service shares, read with :mod:`bus.settings`.

A service subclasses :class:`ServiceSettings` with more fields made with
:func:`bus.settings.setting` (re-exported as ``servicekit.setting``), and
:func:`bus.settings.load_settings` reads them from the command line, the environment and
the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

from bus.settings import LOG_LEVELS, load_settings, setting

from .limits import DEFAULT_BURST, DEFAULT_RATE

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
        partitions: how many parts the service's connections are split into among its
            replicas (``WSLAB_PARTITIONS``); all replicas must agree
            (:mod:`servicekit.replicas`).
        lease: seconds a replica's hold on a partition lasts unless renewed
            (``WSLAB_LEASE``): how long a dead replica's connections wait for another.
        batch: the most envelopes read from the stream at once (``WSLAB_BATCH``).
        redis_connections: the most Redis connections the service opens; handlers wait
            for one beyond (``WSLAB_REDIS_CONNECTIONS``).
        rate: how many messages per second a connection may send, on average
            (``WSLAB_RATE``); beyond, ``rate_limited`` (servicekit.RateLimits).
        burst: how many it may send at once (``WSLAB_BURST``).
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
    partitions: int = setting(
        "WSLAB_PARTITIONS", 16, "parts the connections are split into among replicas"
    )
    lease: float = setting(
        "WSLAB_LEASE", 3.0, "seconds a replica holds a partition unless it renews it"
    )
    batch: int = setting("WSLAB_BATCH", 100, "the most envelopes read from the stream at once")
    redis_connections: int = setting(
        "WSLAB_REDIS_CONNECTIONS", 50, "the most Redis connections; handlers wait for one beyond"
    )
    rate: float = setting(
        "WSLAB_RATE", DEFAULT_RATE, "messages per second a connection may send, on average"
    )
    burst: int = setting(
        "WSLAB_BURST", DEFAULT_BURST, "messages a connection may send at once, above the rate"
    )

    def __post_init__(self) -> None:
        if self.log_level not in LOG_LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}")
        for name in ("heartbeat_interval", "lease", "rate"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name.replace('_', ' ')} must be positive")
        for name in ("partitions", "batch", "redis_connections", "burst"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', ' ')} must be at least 1")
