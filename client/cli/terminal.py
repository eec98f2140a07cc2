"""Standard input for the commands: its lines, read without blocking the event loop, and a
terminal's keys as they are typed (:func:`cbreak`)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import TextIO

__all__ = ["cbreak", "read_lines"]


async def read_lines(stream: TextIO) -> AsyncIterator[str]:
    """Yield lines of ``stream`` without their line ending.

    A daemon thread reads, so reading works on terminals, pipes and files alike and never
    keeps the program alive; a semaphore bounds how far it reads ahead. (It hands lines over
    with callbacks rather than coroutines, which would be left never awaited, with a
    warning, when the program ends while it reads.)
    """
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    ahead = threading.Semaphore(64)

    def read() -> None:
        try:
            for line in stream:
                ahead.acquire()
                loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\r\n"))
            loop.call_soon_threadsafe(lines.put_nowait, None)
        except RuntimeError:
            pass  # The event loop is closed: the program is ending.

    threading.Thread(target=read, name="wslab-stdin", daemon=True).start()
    while (line := await lines.get()) is not None:
        ahead.release()
        yield line


@contextlib.contextmanager
def cbreak(stream: TextIO, *, drop_typed: bool = False) -> Iterator[None]:
    """Put the terminal ``stream`` in cbreak mode for the block: each key typed reaches the
    program at once, without being echoed. Then restore the terminal; with ``drop_typed``,
    what was typed meanwhile and not read is dropped rather than left to the shell.

    Nothing changes if ``stream`` is not a terminal.
    """
    if not stream.isatty():
        yield
        return
    import termios  # Unix only: only needed here
    import tty

    fd = stream.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH if drop_typed else termios.TCSADRAIN, saved)
