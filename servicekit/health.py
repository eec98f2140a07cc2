"""The container healthcheck: ``python -m servicekit.health``, or ``python -I
servicekit/health.py`` as the images run it, which imports nothing of the package: so this
module uses the standard library only.

Exits 0 if the heartbeat file (``WSLAB_HEALTH_FILE``, default ``/tmp/wslab-healthy``) was
touched less than 15 seconds ago, 1 otherwise: the service is not running, or has not been
connected to the bus for a while. Prints one line saying which.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["DEFAULT_FILE", "MAX_AGE", "age", "main"]

DEFAULT_FILE = "/tmp/wslab-healthy"
MAX_AGE = 15.0
"""Seconds: several heartbeats (every 3 s by default) may be missed before this fails."""


def age(path: Path, now: float | None = None) -> float | None:
    """Return how many seconds ago ``path`` was modified, or None if it does not exist."""
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    return (time.time() if now is None else now) - mtime


def main(argv: Sequence[str] | None = None) -> int:
    """Check the heartbeat file; return the exit status (0 healthy, 1 not)."""
    parser = argparse.ArgumentParser(
        prog="python -m servicekit.health",
        description="Exit 0 if the service's heartbeat file is fresh, 1 otherwise.",
    )
    parser.add_argument(
        "--file",
        type=Path,
        default=Path(os.environ.get("WSLAB_HEALTH_FILE", DEFAULT_FILE)),
        help=f"the heartbeat file (env WSLAB_HEALTH_FILE, default {DEFAULT_FILE})",
    )
    parser.add_argument(
        "--max-age",
        type=float,
        default=MAX_AGE,
        help=f"seconds after which the file is stale (default {MAX_AGE:g})",
    )
    args = parser.parse_args(argv)
    seconds = age(args.file)
    if seconds is None:
        print(f"unhealthy: {args.file} does not exist")
        return 1
    if seconds > args.max_age:
        print(f"unhealthy: {args.file} is {seconds:.1f} s old (more than {args.max_age:g} s)")
        return 1
    print(f"healthy: {args.file} is {seconds:.1f} s old")
    return 0


if __name__ == "__main__":
    sys.exit(main())
