"""What every ``wslab`` command is made of: where it reads and writes (:class:`Environment`),
what it exits with (:class:`ExitStatus`), how it fails (:class:`CommandError`), and what
the dispatcher, :func:`client.cli.main`, needs to know of it (:class:`Command`).

This is the bottom of the command line, with :mod:`client.cli.options` and
:mod:`client.cli.terminal`: the commands import them, and they import no command.
"""

from __future__ import annotations

import argparse
import enum
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, TextIO, TypeVar

__all__ = ["Command", "CommandError", "Environment", "ExitStatus"]


@enum.unique
class ExitStatus(enum.IntEnum):
    """What ``wslab`` exits with."""

    SUCCESS = 0  # connect: the connection closed cleanly; replay: every expectation was met
    # connect: a line was not sent, the server closed with a reason, or the connection
    # failed once open; replay: an expectation was not met; quotes:
    # the service answered with an error. Also: standard output was closed (`| head`).
    ERROR = 1
    USAGE = 2  # bad arguments, URL or session file
    CONNECT_FAILED = 3  # the server or proxy cannot be reached, or TLS failed
    HANDSHAKE_FAILED = 4  # the server rejected the handshake or broke it
    TIMEOUT = 5  # the connection did not open in time
    CTRL_C = 130  # 128 + SIGINT


@dataclass
class Environment:
    """Where the command reads and writes; tests replace the streams."""

    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)

    @property
    def interactive(self) -> bool:
        """True when a person types at a terminal, so hints on stderr are welcome."""
        return self.stdin.isatty()


class CommandError(Exception):
    """A failure the command reports as one line, with its exit status."""

    def __init__(self, status: ExitStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


OptionsT = TypeVar("OptionsT")


@dataclass(frozen=True, kw_only=True)
class Command(Generic[OptionsT]):
    """A ``wslab`` command, as each command module declares it in its ``COMMAND``.

    Attributes:
        name: what to type after ``wslab``.
        help: one line for ``wslab --help``.
        description: the paragraph of ``wslab NAME --help``.
        add_arguments: declares the command's arguments on its parser. Each argument's
            ``dest`` is the name of a field of ``options``.
        options: the dataclass of the parsed arguments: :func:`client.cli.main` makes one
            from the values parsed, each field from the argument of its name, and a field
            that is a dataclass itself (:class:`client.cli.options.ConnectionOptions`) from
            the same values.
        run: runs the command; it reports a failure by raising :class:`CommandError`.
    """

    name: str
    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    options: type[OptionsT]
    run: Callable[[OptionsT, Environment], Coroutine[Any, Any, ExitStatus]]
