"""``wslab token``: print a development token minted by :func:`client.tokens.mint`."""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass

from .base import Command, CommandError, Environment, ExitStatus
from .options import positive_float

__all__ = ["COMMAND", "Options", "run"]


@dataclass(frozen=True, kw_only=True)
class Options:
    user: str
    secret: str | None
    audience: str
    ttl: float
    rooms: list[str] | None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("user", help="the token's subject: the user's nickname")
    parser.add_argument(
        "--secret",
        default=os.environ.get("WSLAB_TOKEN_SECRET"),
        help="the gateway's signing secret (default: WSLAB_TOKEN_SECRET)",
    )
    parser.add_argument(
        "--audience", default="wslab", help="the gateway's audience (default: %(default)s)"
    )
    parser.add_argument(
        "--ttl",
        type=positive_float,
        default=3600.0,
        metavar="SECONDS",
        help="how long the token is valid (default: %(default)s)",
    )
    parser.add_argument(
        "--room",
        action="append",
        dest="rooms",
        metavar="PATTERN",
        help="a room the user may enter, * matching any characters (repeat it; default:"
        " every room)",
    )


async def run(options: Options, env: Environment) -> ExitStatus:
    """Print a token for the user."""
    # PyJWT, with the cryptography it loads, takes tens of milliseconds to import: only
    # here, so that every other command starts without it.
    from ..tokens import mint

    if not options.secret:
        raise CommandError(ExitStatus.USAGE, "no secret: give --secret or set WSLAB_TOKEN_SECRET")
    token = mint(
        options.user,
        options.secret,
        now=time.time(),
        ttl=options.ttl,
        audience=options.audience,
        rooms=options.rooms,
    )
    print(token, file=env.stdout)
    return ExitStatus.SUCCESS


COMMAND = Command(
    name="token",
    help="mint a token for a gateway in token mode",
    description=(
        "Print a token for USER, signed with the gateway's secret (HS256), for a"
        " gateway with WSLAB_AUTH=token: pass it to any command with --token, or set"
        " WSLAB_TOKEN. The user is their chat nickname. For development: a real"
        " deployment mints tokens in its own login service."
    ),
    add_arguments=add_arguments,
    options=Options,
    run=run,
)
