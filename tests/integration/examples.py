"""The console examples of README.md and docs/*.md that run against the stack: finding them,
running them, and comparing what they print with what the Markdown shows.

The rules are in tests/integration/test_examples.py's docstring; this module holds no
knowledge of the stack but the port to rewrite.
"""

from __future__ import annotations

import difflib
import os
import re
import signal
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The Markdown files whose examples run: README and every page of docs/.
DOCUMENTS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))

#: The line right before a ```console fence that makes its block an example, or says why
#: it is not run.
MARKER = re.compile(r"<!--\s*example:(?P<spec>.*?)-->")
#: What the marker may say: ``stack`` and options, or ``not run`` and the reason.
RUN, NOT_RUN = "stack", "not run"
OPTIONS = ("numbers vary",)
#: What a console block that talks to the stack names.
STACK = re.compile(r"\b(?:localhost|127\.0\.0\.1):4502\b")
#: The port the examples name, and the hosts whose port is rewritten to the stack's.
DOC_PORT = 4502
HOSTS = ("localhost", "127.0.0.1")
#: A whole expected line that stands for any lines, none included; inside a line, any text.
ANY = "..."
#: A number, in a block whose numbers vary: 7, -0.48, +1.04, 1,000, 1795574450.05963, 1e-05.
NUMBER = r"[-+]?\d+(?:[.,]\d+)*(?:[eE][-+]?\d+)?"
_NUMBER = re.compile(NUMBER)
_FENCE = "```console"


class MarkerError(ValueError):
    """A marker that is not right before a console block, or says what is not understood."""


@dataclass(frozen=True)
class Command:
    """One ``$ `` line of an example (with its continuation lines) and its expected output.

    Attributes:
        line: the line number of the ``$ `` line in its file, from 1.
        text: the command as bash gets it: continuation lines keep their backslash-newline.
        expected: the lines after it up to the next command or the end of the block.
    """

    line: int
    text: str
    expected: tuple[str, ...]


@dataclass(frozen=True)
class Example:
    """A marked console block: its commands run in order, in one directory."""

    path: Path
    line: int  # the fence's line
    commands: tuple[Command, ...]
    numbers_vary: bool = False

    @property
    def name(self) -> str:
        """``README.md:153``: the file, relative to the repository, and the fence's line."""
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path}:{self.line}"


def find_examples(path: Path, text: str | None = None) -> list[Example]:
    """The examples of one Markdown file (``text``, or the file's) marked to run.

    Raises:
        MarkerError: a marker is not right before a ```console fence, says something other
            than ``stack`` with known options or ``not run`` with a reason, or its block
            has output before any command.
    """
    lines = (path.read_text(encoding="utf-8") if text is None else text).splitlines()
    examples = []
    for index, line in enumerate(lines):
        marker = MARKER.fullmatch(line.strip())
        if marker is None:
            continue
        where = f"{path.name}:{index + 1}"
        place, _, rest = (part.strip() for part in marker["spec"].partition(","))
        options = [option.strip() for option in rest.split(",")] if rest else []
        runs = place == RUN and all(option in OPTIONS for option in options)
        if not runs and not (place == NOT_RUN and rest):
            msg = (
                f"{where}: {line.strip()!r} is not an example marker: write"
                f" <!-- example: {RUN} -->, <!-- example: {RUN}, {OPTIONS[0]} --> or"
                f" <!-- example: {NOT_RUN}, REASON -->"
            )
            raise MarkerError(msg)
        fence = index + 1
        if fence >= len(lines) or lines[fence].strip() != _FENCE:
            msg = f"{where}: an example marker must be the line right before a {_FENCE} fence"
            raise MarkerError(msg)
        end = _end(lines, fence)
        if end is None:
            raise MarkerError(f"{where}: the example's {_FENCE} block never ends")
        if runs:
            commands = _commands(lines, fence + 1, end, where)
            numbers_vary = "numbers vary" in options
            examples.append(Example(path, fence + 1, tuple(commands), numbers_vary))
    return examples


def unmarked_stack_blocks(path: Path, text: str | None = None) -> list[int]:
    """The lines of the ```console fences of one Markdown file whose block names the
    stack (``localhost:4502``, ``127.0.0.1:4502``) with no marker right before."""
    lines = (path.read_text(encoding="utf-8") if text is None else text).splitlines()
    unmarked = []
    for index, line in enumerate(lines):
        if line.strip() != _FENCE or (index and MARKER.fullmatch(lines[index - 1].strip())):
            continue
        end = _end(lines, index)
        if any(STACK.search(text) for text in lines[index + 1 : end]):
            unmarked.append(index + 1)
    return unmarked


def _end(lines: Sequence[str], fence: int) -> int | None:
    """The index of the line closing the block opened at ``lines[fence]``, if any."""
    return next((i for i in range(fence + 1, len(lines)) if lines[i].strip() == "```"), None)


def _commands(lines: Sequence[str], start: int, end: int, where: str) -> list[Command]:
    """The commands of the block ``lines[start:end]``, each with its expected output."""
    commands: list[Command] = []
    index = start
    while index < end:
        line = lines[index]
        if not line.startswith("$ "):
            if not commands:
                msg = f"{where}: the example's first line must be a command (`$ ...`)"
                raise MarkerError(msg)
            last = commands[-1]
            commands[-1] = Command(last.line, last.text, (*last.expected, line))
            index += 1
            continue
        first, parts = index, [line[2:]]
        while parts[-1].endswith("\\") and index + 1 < end:
            index += 1
            parts.append(lines[index])
        commands.append(Command(first + 1, "\n".join(parts), ()))
        index += 1
    if not commands:
        raise MarkerError(f"{where}: the example has no command (`$ ...`)")
    return commands


def all_examples(documents: Iterable[Path] = DOCUMENTS) -> list[Example]:
    """The marked examples of every document, in order."""
    return [example for path in documents for example in find_examples(path)]


def on_port(text: str, port: int) -> str:
    """``text`` with ``localhost:4502`` and ``127.0.0.1:4502`` on ``port`` instead."""
    for host in HOSTS:
        text = re.sub(rf"\b{re.escape(host)}:{DOC_PORT}\b", f"{host}:{port}", text)
    return text


# Comparing the output.


def line_pattern(expected: str, numbers_vary: bool) -> re.Pattern[str]:
    """What one expected line (not ``...`` alone) matches: itself, with ``...`` matching any
    text, and when numbers vary, any number for each number and any run of spaces for each."""
    literal_parts = []
    for part in expected.split(ANY):
        if not numbers_vary:
            literal_parts.append(re.escape(part))
            continue
        pattern, position = [], 0
        for token in re.finditer(f"{NUMBER}| +", part):
            pattern.append(re.escape(part[position : token.start()]))
            pattern.append(NUMBER if _NUMBER.fullmatch(token[0]) else " +")
            position = token.end()
        pattern.append(re.escape(part[position:]))
        literal_parts.append("".join(pattern))
    return re.compile(".*".join(literal_parts))


def output_lines(output: bytes) -> list[str]:
    """The lines a terminal would show: CRLF as LF, trailing spaces and newline dropped."""
    text = output.decode("utf-8", errors="replace").replace("\r\n", "\n")
    return [line.rstrip() for line in text.removesuffix("\n").split("\n")] if text else []


def first_mismatch(
    expected: Sequence[str], actual: Sequence[str], numbers_vary: bool
) -> tuple[int, int] | None:
    """None if ``actual`` matches ``expected`` line by line (``...`` lines matching any
    lines); else the index of the first expected line that no way of matching could reach
    past, and the index of the actual line it was tried on (``len(actual)``: there was none;
    ``len(expected)``: output was left over)."""
    patterns = [
        None if line.strip() == ANY else line_pattern(line.rstrip(), numbers_vary)
        for line in expected
    ]
    # reach[i]: the numbers of actual lines that the first i expected lines can match.
    reach: list[set[int]] = [{0}]
    for pattern in patterns:
        before = reach[-1]
        if pattern is None:
            after = set(range(min(before), len(actual) + 1)) if before else set()
        else:
            after = {j + 1 for j in before if j < len(actual) and pattern.fullmatch(actual[j])}
        reach.append(after)
    if len(actual) in reach[-1]:
        return None
    stuck = max(i for i, reached in enumerate(reach) if reached)
    return stuck, (max if stuck == len(patterns) else min)(reach[stuck])


def explain(example: Example, command: Command, actual: Sequence[str], status: int) -> str:
    """Why ``command``'s output does not match its example: the place, then a diff."""
    mismatch = first_mismatch(command.expected, actual, example.numbers_vary)
    assert mismatch is not None
    line, at = mismatch
    file = example.name.rpartition(":")[0]
    if line == len(command.expected):
        problem = f"more output than the example shows, from: {actual[at]!r}"
    elif at == len(actual):
        problem = (
            f"{file}:{command.line + 1 + line}: the output ended before {command.expected[line]!r}"
        )
    else:
        problem = (
            f"{file}:{command.line + 1 + line}: expected {command.expected[line]!r},"
            f" got {actual[at]!r}"
        )
    diff = difflib.unified_diff(
        list(command.expected), list(actual), f"{file}:{command.line + 1}", "actual", lineterm=""
    )
    mode = " (numbers vary)" if example.numbers_vary else ""
    return (
        f"{file}:{command.line}: `{command.text}` (exit status {status}) printed what the"
        f" example does not show{mode}: {problem}\n" + "\n".join(diff)
    )


# Running.


@dataclass(frozen=True)
class Ran:
    """What a command printed, standard output and error together, and its exit status."""

    output: bytes
    status: int


class Hung(AssertionError):
    """A command did not end within its bound."""


def run(command: str, cwd: Path, env: dict[str, str], timeout: float) -> Ran:
    """Run ``command`` with bash in ``cwd``, standard input empty, both outputs in one pipe.

    Raises:
        Hung: it did not end within ``timeout``; its whole process group is killed.
    """
    with subprocess.Popen(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: a pipeline is killed whole
    ) as process:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            msg = f"no end after {timeout:g} s; it printed {output.decode(errors='replace')!r}"
            raise Hung(msg) from None
        return Ran(output, process.returncode)
