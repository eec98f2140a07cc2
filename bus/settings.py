"""Settings from environment variables, for every program on the bus.

The gateway and the services depend on ``bus`` (and each of their Docker images copies
``bus/``), so they all read their settings the same way. A program declares its settings
as a frozen dataclass whose fields are made with :func:`setting`, which names the
environment variable and documents the default. :func:`load_settings` turns that into an
``argparse`` command line: ``--redis-url`` for ``redis_url`` and so on, each defaulting to
its environment variable, then to the documented default, so ``--help`` lists all three.
A secret may come from a file instead: ``REDIS_URL_FILE=/run/secrets/redis-url`` reads
``REDIS_URL`` from that file, as compose secrets are given.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["LOG_LEVELS", "load_settings", "setting"]

_T = TypeVar("_T")
_D = TypeVar("_D", bound="DataclassInstance")

#: The values of ``WSLAB_LOG_LEVEL``, for the gateway and the services.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def setting(env: str, default: _T, help: str) -> _T:
    """Declare a settings field read from the environment variable ``env``.

    Args:
        env: the environment variable that sets it, for example ``REDIS_URL``.
        default: the value without that variable; its type (str, int or float) is the
            field's type on the command line and in the environment.
        help: one line for ``--help``.
    """
    if isinstance(default, bool) or not isinstance(default, str | int | float):
        raise TypeError(f"the default of {env} must be a str, an int or a float")
    # The dataclass sees a Field; type checkers see a default of type _T.
    field: _T = dataclasses.field(default=default, metadata={"env": env, "help": help})
    return field


def load_settings(
    cls: type[_D],
    argv: Sequence[str] | None = None,
    *,
    prog: str | None = None,
    description: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> _D:
    """Build settings from the command line, then the environment, then the defaults.

    Args:
        cls: a frozen dataclass whose fields are made with :func:`setting`; other fields
            keep their defaults. Its ``__post_init__`` rejects invalid values with
            ``ValueError``.
        argv: the arguments, without the program name; ``sys.argv[1:]`` if None.
        prog: the program name shown by ``--help``, for example ``python -m chat_service``.
        description: the paragraph shown by ``--help``.
        environ: the environment; ``os.environ`` if None.

    Returns:
        The settings. ``--help`` and invalid values (on the command line, in the
        environment, or rejected by the dataclass) exit through ``argparse``, with status 0
        and 2 respectively; an invalid environment value is reported with its variable.
    """
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog=prog, description=description)
    fields = [field for field in dataclasses.fields(cls) if "env" in field.metadata]
    for field in fields:
        env = field.metadata["env"]
        shown = repr(field.default) if field.default == "" else field.default
        help = f"{field.metadata['help']} (env {env}, default {shown})"
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            metavar=env,
            type=type(field.default),
            # None: not on the command line. The environment is read after parsing, so
            # that --help works, and an option overrides a bad environment value.
            default=None,
            help=help.replace("%", "%%"),  # argparse formats help with %
        )
    options = vars(parser.parse_args(argv))
    values: dict[str, Any] = {}
    for field in fields:
        value = options[field.name]
        env = field.metadata["env"]
        given = _from_environment(env, environ, parser)
        if value is None and given is not None:
            kind: type[Any] = type(field.default)
            try:
                value = kind(given)
            except ValueError:
                parser.error(f"{env}: invalid {kind.__name__} value: {given!r}")
        if value is not None:
            values[field.name] = value
    try:
        return cls(**values)
    except ValueError as exc:
        parser.error(str(exc))


def _from_environment(
    env: str, environ: Mapping[str, str], parser: argparse.ArgumentParser
) -> str | None:
    """The value of ``env``, or the content of the file ``env_FILE`` names (a secret
    mounted by compose), without its trailing newline; None if neither is set."""
    path = environ.get(f"{env}_FILE")
    if path is None:
        return environ.get(env)
    if env in environ:
        parser.error(f"set {env} or {env}_FILE, not both")
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        parser.error(f"{env}_FILE: cannot read {path}: {exc.strerror or exc}")
