"""What each lock file in requirements/ is resolved from, read from pyproject.toml.

scripts/lock-requirements resolves each lock from `inputs` and writes `header` at its top, so
a lock records the ranges it was made from; tests/scripts/test_locks.py compares that record
with pyproject.toml, which catches a range changed without locking again.

Usage: python3 scripts/locks.py locks|images      the locks, or those of the images only
       python3 scripts/locks.py inputs|header LOCK
"""

import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ("gateway", "service", "client")  # Each image's Dockerfile installs its own lock.
LOCKS = (*IMAGES, "test")  # scripts/test installs requirements/test.txt.
_RECORD = "# Resolved from these requirements in pyproject.toml:"
_ITEM = "#   "


def pyproject() -> dict[str, Any]:
    """Return pyproject.toml, parsed."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def inputs(lock: str, project_file: dict[str, Any]) -> list[str]:
    """The requirements a lock is resolved from."""
    project = project_file["project"]
    extras = project["optional-dependencies"]
    if lock == "client":
        return list(project["dependencies"])
    if lock == "test":  # The project installed editable: its dependencies and build backend.
        return [
            *project["dependencies"],
            *extras["test"],
            *project_file["build-system"]["requires"],
        ]
    return list(extras[lock])


def header(lock: str, project_file: dict[str, Any]) -> str:
    """Return the comment a lock starts with: who writes it, and the requirements it was
    resolved from, one a line, which :func:`recorded_inputs` reads back."""
    lines = [
        "# Written by scripts/lock-requirements: change pyproject.toml and run it again.",
        _RECORD,
        *(_ITEM + requirement for requirement in inputs(lock, project_file)),
    ]
    return "\n".join(lines) + "\n"


def recorded_inputs(lock_text: str) -> list[str]:
    """The requirements a lock's header says it was resolved from."""
    lines = iter(lock_text.splitlines())
    for line in lines:
        if line == _RECORD:
            break
    found = []
    for line in lines:
        if not line.startswith(_ITEM):
            break
        found.append(line.removeprefix(_ITEM))
    return found


def pins(lock_text: str) -> dict[str, str]:
    """Each package a lock pins, by name, with its version (markers left out)."""
    found = {}
    for line in lock_text.splitlines():
        requirement = line.split(";")[0].split("#")[0].strip()
        if "==" in requirement:
            name, version = requirement.split("==")
            found[name.strip().lower()] = version.strip()
    return found


def main(command: str, lock: str = "") -> None:
    """Print what ``command`` asks for; see the module's docstring."""
    if command == "locks":
        print(*LOCKS)
    elif command == "images":
        print(*IMAGES)
    elif command == "inputs" and lock in LOCKS:
        print("\n".join(inputs(lock, pyproject())))
    elif command == "header" and lock in LOCKS:
        print(header(lock, pyproject()), end="")
    else:
        sys.exit(__doc__.split("Usage: ")[1])


if __name__ == "__main__":
    main(*sys.argv[1:])
