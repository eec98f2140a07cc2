"""Settings from environment variables, overridable on the command line.

A service declares its settings as a frozen dataclass whose fields are made with
:func:`setting`, which names the environment variable and documents the default.
:func:`load_settings` turns that into an ``argparse`` command line: ``--redis-url`` for
``redis_url`` and so on, each defaulting to its environment variable, then to the
documented default, so ``--help`` lists all three.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["LOG_LEVELS", "ServiceSettings", "load_settings", "setting"]

_T = TypeVar("_T")
_S = TypeVar("_S", bound="ServiceSettings")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def setting(env: str, default: _T, help: str) -> _T:
    """Declare a settings field read from the environment variable ``env``.

    Args:
        env: the environment variable that sets it, for example ``REDIS_URL``.
        default: the value without that variable; its type (str, int or float) is the
            field's type on the command line and in the environment.
        help: one line for ``--help``.
    """
    # The dataclass sees a Field; type checkers see a default of type _T.
    field: _T = dataclasses.field(default=default, metadata={"env": env, "help": help})
    return field


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


def load_settings(
    cls: type[_S],
    argv: Sequence[str] | None = None,
    *,
    prog: str | None = None,
    description: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> _S:
    """Build settings from the command line, then the environment, then the defaults.

    Args:
        cls: a :class:`ServiceSettings` dataclass, whose fields are made with :func:`setting`.
        argv: the arguments, without the program name; ``sys.argv[1:]`` if None.
        prog: the program name shown by ``--help``, for example ``python -m chat_service``.
        description: the paragraph shown by ``--help``.
        environ: the environment; ``os.environ`` if None.

    Returns:
        The settings. ``--help`` and invalid values (on the command line, in the
        environment, or rejected by the dataclass) exit through ``argparse``, with status 0
        and 2 respectively.
    """
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog=prog, description=description)
    fields = [field for field in dataclasses.fields(cls) if "env" in field.metadata]
    for field in fields:
        env = field.metadata["env"]
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            metavar=env,
            type=type(field.default),
            # argparse converts a string default with `type`, so a bad environment value
            # is reported like a bad option.
            default=environ.get(env, field.default),
            help=f"{field.metadata['help']} (env {env}, default {field.default})",
        )
    values: dict[str, Any] = vars(parser.parse_args(argv))
    try:
        return cls(**values)
    except ValueError as exc:
        parser.error(str(exc))
