"""``wslab chat`` at a terminal, as a person sees it: run in tmux, keys sent with
``send-keys``, the screen read with ``capture-pane``."""

from __future__ import annotations

import shlex
import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.client.cli.running import installed_wslab
from tests.client.threaded import Gateway
from tests.waiting import HANG, until_sync


class Screen:
    """A tmux session of its own, ``width`` columns wide, running one command."""

    def __init__(self, command: str, width: int) -> None:
        self.name = f"wslab-{uuid.uuid4().hex[:8]}"
        self._tmux(
            "new-session", "-d", "-s", self.name, "-x", str(width), "-y", "10",
            f"{command}; echo exit=$?; sleep {HANG:g}",
        )  # fmt: skip

    def _tmux(self, *args: str) -> str:
        completed = subprocess.run(
            ["tmux", *args], capture_output=True, text=True, timeout=HANG, check=True
        )
        return completed.stdout

    def rows(self) -> list[str]:
        """The rows of the screen, without trailing blanks, down to the last non-empty one."""
        rows = [
            row.rstrip() for row in self._tmux("capture-pane", "-p", "-t", self.name).split("\n")
        ]
        while rows and not rows[-1]:
            rows.pop()
        return rows

    def lines(self) -> list[str]:
        """The lines shown, each wrapped line joined again."""
        return [
            line.rstrip()
            for line in self._tmux("capture-pane", "-p", "-J", "-t", self.name).split("\n")
        ]

    def wait_for(self, row: str) -> list[str]:
        """Wait until a row of the screen is ``row``; return the rows then."""
        until_sync(lambda: row in self.rows(), f"the screen to show {row!r}")
        return self.rows()

    def type(self, keys: str) -> None:
        self._tmux("send-keys", "-t", self.name, "-l", keys)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True, check=False)


@pytest.fixture
def chat_screen(gateway: Gateway) -> Iterator[Callable[[str], Screen]]:
    """Start ``wslab chat`` as NICK on a screen 20 columns wide."""
    screens: list[Screen] = []

    def start(nick: str) -> Screen:
        wslab = shlex.quote(installed_wslab())
        screens.append(Screen(f"{wslab} chat {gateway.url} --no-proxy --nick {nick}", width=20))
        return screens[-1]

    yield start
    for screen in screens:
        screen.close()


def test_wide_characters_typed_leave_no_stale_input_on_the_screen(
    chat_screen: Callable[[str], Screen],
) -> None:
    screen = chat_screen("ann")
    screen.wait_for("lobby>")
    screen.type("你好世界你好世界你好")  # 20 columns, wider than the 12 left after the prompt
    assert screen.wait_for("lobby> 你好世界你好")[-1] == "lobby> 你好世界你好"
    screen.type("\r")
    rows = screen.wait_for("[lobby] <ann> 你好世")
    assert rows[-3:] == ["[lobby] <ann> 你好世", "界你好世界你好", "lobby>"]


def test_a_taken_nick_at_a_terminal_says_so_and_exits_1(
    gateway: Gateway, chat_screen: Callable[[str], Screen]
) -> None:
    gateway.fake.ghosts["bo"] = 1
    screen = chat_screen("bo")
    screen.wait_for("exit=1")
    lines = screen.lines()
    assert (
        lines[lines.index("exit=1") - 1] == "wslab: the nickname bo is taken; choose another --nick"
    )
