"""The ``wslab`` command: ``wslab connect``, ``replay``, ``chat``, ``quotes``, ``token`` and
``bench``, one module each.

:func:`main` is the dispatcher: it builds the parser from the commands of
:data:`COMMANDS`, parses the arguments once into the command's options dataclass, runs the
command, and turns every failure into a one-line message and an :class:`ExitStatus`; the
commands themselves have no error handling. The commands import only the bottom of the
command line (:mod:`client.cli.base`, :mod:`client.cli.options`,
:mod:`client.cli.terminal`), :mod:`client.cli.reconnect` and the library; never this
module.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import typing
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from . import bench, chat, connect, quotes, replay, token
from .base import Command, CommandError, Environment, ExitStatus

__all__ = ["COMMANDS", "Environment", "ExitStatus", "main"]

#: Every command, in the order ``wslab --help`` lists them.
COMMANDS: tuple[Command[Any], ...] = (
    connect.COMMAND,
    replay.COMMAND,
    chat.COMMAND,
    quotes.COMMAND,
    token.COMMAND,
    bench.COMMAND,
)


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> int:
    """Run ``wslab`` and return its exit status."""
    env = env or Environment()
    command, options = _parse(argv)
    try:
        return asyncio.run(command.run(options, env))
    except CommandError as exc:
        status, message = exc.status, str(exc)
    except KeyboardInterrupt:
        return ExitStatus.CTRL_C
    except BrokenPipeError:  # The reader of standard output is gone, as `| head` does.
        _discard(env.stdout)
        return ExitStatus.ERROR
    print(f"wslab: {message}", file=env.stderr)
    return status


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``wslab``: its own options, then each command of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="wslab",
        description="Talk to servers of the 2010 GET+Upgrade+HELLO WebSocket draft.",
    )
    parser.add_argument("--version", action=_Version)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.help, description=command.description)
        command.add_arguments(sub)
    return parser


def _parse(argv: Sequence[str] | None) -> tuple[Command[Any], Any]:
    """The command ``argv`` names, and its options; exit 2 with the usage if it is wrong."""
    values = vars(build_parser().parse_args(argv))
    command = next(command for command in COMMANDS if command.name == values["command"])
    return command, _options(command.options, values)


def _options(cls: type[Any], values: Mapping[str, Any]) -> Any:
    """The dataclass ``cls`` made of the parsed ``values``: each field is the value of the
    argument of its name, except a field that is a dataclass itself, made of the same
    values (the connection options every command that connects shares)."""
    types = typing.get_type_hints(cls)
    fields = {}
    for field in dataclasses.fields(cls):
        kind = types[field.name]
        is_options = isinstance(kind, type) and dataclasses.is_dataclass(kind)
        fields[field.name] = _options(kind, values) if is_options else values[field.name]
    return cls(**fields)


class _Version(argparse.Action):
    """``--version``: print ``wslab VERSION`` and exit. The version is looked up only then,
    and importlib.metadata imported: reading the installed distribution's metadata takes
    tens of milliseconds, which every other command would pay."""

    def __init__(self, option_strings: Sequence[str], dest: str) -> None:
        super().__init__(
            option_strings,
            dest=argparse.SUPPRESS,
            default=argparse.SUPPRESS,
            nargs=0,
            help="print wslab's version and exit",
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        import importlib.metadata

        try:
            version = importlib.metadata.version("wslab")
        except importlib.metadata.PackageNotFoundError:  # run from source, as in the image
            version = "unknown (not installed)"
        print(f"wslab {version}")
        parser.exit()


def _discard(stream: TextIO) -> None:
    """Send what ``stream`` still buffers to /dev/null, so that Python's final flush does
    not fail on the closed pipe again (as the signal module's documentation advises)."""
    with contextlib.suppress(OSError, ValueError):  # not a file: nothing to do
        fd = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
