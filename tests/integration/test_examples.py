"""The console examples of README.md and docs/*.md, run against the compose stack as written.

An example is a ```console block right after this marker line::

    <!-- example: stack -->

or, when the numbers it prints differ from run to run (prices, seqs, times, latencies)::

    <!-- example: stack, numbers vary -->

A console block that names the stack (``localhost:4502``, ``127.0.0.1:4502``) but cannot
run as it stands (it needs a terminal, a TLS or token-mode stack, a stopped service) says
why instead, and is not run::

    <!-- example: not run, needs a terminal -->

Such a block with neither marker fails a test of this module; any other marker, or one not
right before a ```console fence, fails its collection. In a block marked to run:

- a line starting with ``$ `` is a command; a command line ending with ``\\`` goes on to
  the next line, as in bash;
- the lines after a command, up to the next command or the end of the block, are what it
  prints: standard output and standard error together, as a terminal shows them, compared
  line by line (CRLF counts as LF; trailing spaces are ignored);
- ``...`` on a line of its own matches any lines, none included; ``...`` inside a line
  matches any text on that line;
- with ``numbers vary``, each number of the expected output (``7``, ``-0.48``, ``+1.04``,
  ``5,000``, ``1795574450.05963``) matches any number, and each run of spaces any run of
  spaces, so aligned columns may shift: the rest of the line is still compared exactly.

The exit status is not compared: what the reader sees is the output. Each example is one
test, named ``FILE:LINE`` of its fence. Its commands run in order with bash, in one new
temporary directory holding a link to the repository's ``sessions/``, with standard input
empty (an interactive command ends at once), the environment of the test stack without
proxy variables, the virtualenv's ``bin`` first on ``PATH`` (``wslab`` is the project's),
and ``localhost:4502`` and ``127.0.0.1:4502`` rewritten to the stack's port, in the
command and its expected output. A command that does not end within ``HANG`` fails its
example; nothing waits for a fixed time. The examples share the session's stack with the
other integration tests: none restarts it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.integration.conftest import Address
from tests.integration.examples import (
    DOCUMENTS,
    ROOT,
    Command,
    Example,
    Hung,
    MarkerError,
    all_examples,
    explain,
    find_examples,
    first_mismatch,
    on_port,
    output_lines,
    run,
    unmarked_stack_blocks,
)
from tests.waiting import HANG

EXAMPLES = all_examples()
#: What a proxy variable would divert: the examples talk to the stack directly.
PROXIES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


def example_environment(compose_env: dict[str, str]) -> dict[str, str]:
    """The stack's environment, without proxies, with the virtualenv's commands first."""
    env = {name: value for name, value in compose_env.items() if name.lower() not in PROXIES}
    # Not resolved: the virtualenv's python is a link, and its bin holds wslab.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def run_example(
    example: Example, port: int, directory: Path, env: dict[str, str]
) -> list[tuple[Command, list[str], int]]:
    """Run the example's commands in order in ``directory``; each command, on the stack's
    port, with the lines it printed and its exit status."""
    results = []
    for command in example.commands:
        on_stack = replace(
            command,
            text=on_port(command.text, port),
            expected=tuple(on_port(line, port) for line in command.expected),
        )
        try:
            ran = run(on_stack.text, directory, env, HANG)
        except Hung as exc:
            file = example.name.rpartition(":")[0]
            raise Hung(f"{file}:{command.line}: `{command.text}`: {exc}") from None
        results.append((on_stack, output_lines(ran.output), ran.status))
    return results


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    """Where an example runs: empty but for a link to the sample sessions."""
    (tmp_path / "sessions").symlink_to(ROOT / "sessions", target_is_directory=True)
    return tmp_path


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda example: example.name)
def test_the_example_prints_what_the_documentation_shows(
    example: Example, gateway: Address, compose_env: dict[str, str], directory: Path
) -> None:
    _, port = gateway
    for command, actual, status in run_example(
        example, port, directory, example_environment(compose_env)
    ):
        if first_mismatch(command.expected, actual, example.numbers_vary) is not None:
            pytest.fail(explain(example, command, actual, status), pytrace=False)


def test_a_changed_command_or_output_fails_its_example(
    gateway: Address, compose_env: dict[str, str], directory: Path
) -> None:
    # The test above catches a drift either way: the example as it is matches what the
    # stack prints, and no longer does once its output or its command is changed.
    (refused,) = [
        example
        for example in EXAMPLES
        if example.path.name == "README.md" and "/forbidden" in example.commands[0].text
    ]
    _, port = gateway
    env = example_environment(compose_env)
    ((command, actual, status),) = run_example(refused, port, directory, env)
    assert first_mismatch(command.expected, actual, refused.numbers_vary) is None
    assert status == 4  # the handshake was rejected
    # What README showed before it was tested.
    drifted = ["wslab: server rejected the handshake with 403: origin not allowed here"]
    assert first_mismatch(drifted, actual, refused.numbers_vary) is not None
    elsewhere = replace(command, text=command.text.replace("/forbidden", "/echo"))
    ((command, actual, _),) = run_example(
        replace(refused, commands=(elsewhere,)), port, directory, env
    )
    assert first_mismatch(command.expected, actual, refused.numbers_vary) is not None


def test_every_console_example_naming_the_stack_is_marked() -> None:
    unmarked = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in DOCUMENTS
        for line in unmarked_stack_blocks(path)
    ]
    assert not unmarked, (
        "these console examples name the stack with no marker on the line before: mark each"
        " <!-- example: stack --> to run it, or <!-- example: not run, REASON -->: "
        + ", ".join(unmarked)
    )


def test_the_documents_have_examples_for_the_stack() -> None:
    names = {example.path.name for example in EXAMPLES}
    assert {"README.md", "PROTOCOL.md", "SESSIONS.md"} <= names, names
    assert all(example.commands for example in EXAMPLES)


# The syntax, without the stack.

DOCUMENT = """\
Some text.
<!-- example: stack -->
```console
$ printf 'a\\nb\\n' | wslab connect ws://localhost:4502/echo
a
b
$ curl -s http://127.0.0.1:4502/healthz \\
    --max-time 5
{"status":"ok"}
```
<!--example: stack, numbers vary-->
```console
$ wslab quotes ws://localhost:4502 MSFT | head -n 1
MSFT       27.91    +0.12   +0.43%  -  seq 17
```

```console
$ not an example
```
"""


def test_a_marked_block_is_its_commands_each_with_the_lines_printed_after_it() -> None:
    first, second = find_examples(Path("doc.md"), DOCUMENT)
    assert first == Example(
        Path("doc.md"),
        3,
        (
            Command(4, "printf 'a\\nb\\n' | wslab connect ws://localhost:4502/echo", ("a", "b")),
            Command(
                7,
                "curl -s http://127.0.0.1:4502/healthz \\\n    --max-time 5",
                ('{"status":"ok"}',),
            ),
        ),
    )
    assert first.name == "doc.md:3"
    assert second == Example(
        Path("doc.md"),
        12,
        (
            Command(
                13,
                "wslab quotes ws://localhost:4502 MSFT | head -n 1",
                ("MSFT       27.91    +0.12   +0.43%  -  seq 17",),
            ),
        ),
        numbers_vary=True,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "<!-- example: stack -->\n\n```console\n$ true\n```\n",
            "doc.md:1: an example marker must be the line right before a ```console fence",
        ),
        (
            "<!-- example: stack -->\n```sh\n$ true\n```\n",
            "doc.md:1: an example marker must be the line right before a ```console fence",
        ),
        (
            "<!-- example: local -->\n```console\n$ true\n```\n",
            "doc.md:1: '<!-- example: local -->' is not an example marker",
        ),
        (
            "<!-- example: stack, numbers differ -->\n```console\n$ true\n```\n",
            "doc.md:1: '<!-- example: stack, numbers differ -->' is not an example marker",
        ),
        (
            "<!-- example: not run -->\n```console\n$ true\n```\n",
            "doc.md:1: '<!-- example: not run -->' is not an example marker",
        ),
        (
            "<!-- example: not run, needs a terminal -->\n$ true\n",
            "doc.md:1: an example marker must be the line right before a ```console fence",
        ),
        (
            "<!-- example: stack -->\n```console\nhello\n```\n",
            "doc.md:1: the example's first line must be a command",
        ),
        ("<!-- example: stack -->\n```console\n```\n", "doc.md:1: the example has no command"),
        (
            "<!-- example: stack -->\n```console\n$ true\n",
            "doc.md:1: the example's ```console block never ends",
        ),
    ],
)
def test_a_marker_that_marks_no_runnable_example_is_an_error(text: str, message: str) -> None:
    with pytest.raises(MarkerError) as excinfo:
        find_examples(Path("doc.md"), text)
    assert str(excinfo.value).startswith(message)


def test_a_block_that_is_not_run_says_why_and_only_those_naming_the_stack_need_a_marker() -> None:
    text = """\
<!-- example: not run, needs a terminal, and a person -->
```console
$ wslab chat ws://localhost:4502 --nick alice
```
```console
$ curl http://127.0.0.1:4502/healthz
```
```console
$ scripts/test
```
<!-- example: stack -->
```console
$ curl -s http://localhost:4502/healthz
```
```console
$ wslab connect ws://localhost:45020/echo
```
"""
    assert [example.line for example in find_examples(Path("doc.md"), text)] == [12]
    assert unmarked_stack_blocks(Path("doc.md"), text) == [5]


@pytest.mark.parametrize(
    ("expected", "actual", "numbers_vary", "mismatch"),
    [
        (["hello", "world"], ["hello", "world"], False, None),
        (["hello", "world"], ["hello"], False, (1, 1)),
        (["hello"], ["hello", "world"], False, (1, 1)),
        (["hello", "world"], ["hello", "World"], False, (1, 1)),
        ([], [], False, None),
        (['{"events": [...]}'], ['{"events": [1, 2, {"a": "b"}]}'], False, None),
        (['{"events": [...]}'], ['{"events": []} and more'], False, (0, 0)),
        (["a", "...", "z"], ["a", "z"], False, None),
        (["a", "...", "z"], ["a", "b", "c", "z"], False, None),
        (["a", "..."], ["a", "b", "c"], False, None),
        (["...", "z"], ["a", "b"], False, (1, 0)),
        (["a", "...", "z"], ["a", "b", "z", "c"], False, (3, 3)),
        (["seq 17"], ["seq 18"], False, (0, 0)),
        (["seq 17"], ["seq 18"], True, None),
        (["MSFT   27.91  +0.12  -1,000"], ["MSFT  127.9  -3.5   +12"], True, None),
        (["MSFT   27.91"], ["AAPL   27.91"], True, (0, 0)),
        (["price 27.91"], ["price none"], True, (0, 0)),
        (['"ts": 1795574450.05963}'], ['"ts": 1e-05}'], True, None),
        (["a b"], ["a  b"], False, (0, 0)),
    ],
)
def test_the_output_matches_line_by_line_with_wildcards(
    expected: list[str],
    actual: list[str],
    numbers_vary: bool,
    mismatch: tuple[int, int] | None,
) -> None:
    assert first_mismatch(expected, actual, numbers_vary) == mismatch


def test_a_mismatch_names_the_line_of_the_example_that_differs() -> None:
    (example,) = find_examples(
        ROOT / "README.md",
        "<!-- example: stack -->\n```console\n$ printf 'hello\\nworld\\n'\nhello\nworld!\n```\n",
    )
    (command,) = example.commands
    message = explain(example, command, ["hello", "world"], 0)
    assert message.startswith(
        "README.md:3: `printf 'hello\\nworld\\n'` (exit status 0) printed what the example does"
        " not show: README.md:5: expected 'world!', got 'world'\n"
    )
    assert "-world!\n+world" in message
    ended = explain(example, command, ["hello"], 1)
    assert "README.md:5: the output ended before 'world!'" in ended
    more = explain(example, command, ["hello", "world!", "again"], 0)
    assert "more output than the example shows, from: 'again'" in more


def test_the_output_is_read_as_a_terminal_shows_it() -> None:
    assert output_lines(b"HTTP/1.1 426 Upgrade Required\r\n\r\nbody  \n") == [
        "HTTP/1.1 426 Upgrade Required",
        "",
        "body",
    ]
    assert output_lines(b"") == []
    assert output_lines(b"caf\xe9\n") == ["caf\ufffd"]


def test_the_documented_port_is_rewritten_to_the_stack_s() -> None:
    assert on_port("ws://localhost:4502/echo 'http://127.0.0.1:4502/x'", 40123) == (
        "ws://localhost:40123/echo 'http://127.0.0.1:40123/x'"
    )
    assert on_port("localhost:45020 gateway:4502 --port 4502", 40123) == (
        "localhost:45020 gateway:4502 --port 4502"
    )


def test_a_command_runs_with_bash_both_outputs_together(tmp_path: Path) -> None:
    ran = run("echo out; echo err >&2; pwd; exit 3", tmp_path, dict(os.environ), HANG)
    assert output_lines(ran.output) == ["out", "err", str(tmp_path)]
    assert ran.status == 3


def test_a_command_that_does_not_end_is_killed_with_its_pipeline(tmp_path: Path) -> None:
    with pytest.raises(Hung) as excinfo:
        run("echo started; sleep 600 | cat", tmp_path, dict(os.environ), timeout=0.5)
    assert str(excinfo.value) == "no end after 0.5 s; it printed 'started\\n'"
