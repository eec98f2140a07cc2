"""Running ``wslab`` in tests: in process, with streams of its own, or the installed console
script in a shell pipeline."""

from __future__ import annotations

import io
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass

from client.cli import Environment, main
from tests.waiting import HANG


@dataclass
class Result:
    status: int
    stdout: str
    stderr: str


def wslab(*args: str, stdin: str | bytes = "") -> Result:
    """Run ``wslab`` in process with the given standard input: text, or any bytes."""
    data = stdin.encode() if isinstance(stdin, str) else stdin
    # A text stream over bytes, as sys.stdin is: wslab connect reads its buffer.
    stdin_stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    env = Environment(stdin=stdin_stream, stdout=io.StringIO(), stderr=io.StringIO())
    status = main(list(args), env)
    return Result(status, env.stdout.getvalue(), env.stderr.getvalue())  # type: ignore[attr-defined]


def installed_wslab() -> str:
    """The console script `pip install -e .` put beside this Python, as in a virtualenv."""
    executable = shutil.which("wslab", path=os.path.dirname(sys.executable))
    assert executable is not None, "run `pip install -e .` to install the wslab command"
    return executable


def pipeline(command: str) -> Result:
    """Run a shell pipeline whose first command is ``wslab ARGS``; its status is wslab's."""
    script = f"set -o pipefail; {shlex.quote(installed_wslab())} {command}"
    completed = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=HANG, check=False
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)
