"""Standard input for the commands: its lines, as text (:func:`read_lines`) or as bytes
(:func:`read_byte_lines`), and its bytes as they come (:func:`read_chunks`), each read
without blocking the event loop; and a terminal's keys as they are typed (:func:`cbreak`)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
from collections.abc import AsyncIterator, Iterator
from typing import IO, Any, BinaryIO, TextIO, TypeVar, cast

__all__ = ["cbreak", "read_byte_lines", "read_chunks", "read_lines"]

_T = TypeVar("_T")


def read_lines(stream: TextIO) -> AsyncIterator[str]:
    """Yield lines of ``stream`` without their line ending."""
    return _read_in_thread(stream, (line.rstrip("\r\n") for line in stream))


def read_byte_lines(stream: BinaryIO) -> AsyncIterator[bytes]:
    """Yield lines of ``stream`` as bytes, without their line ending: whatever they hold,
    so that the caller decides what to do with a line that is not text."""
    return _read_in_thread(stream, (line.rstrip(b"\r\n") for line in stream))


def read_chunks(stream: BinaryIO, size: int) -> AsyncIterator[bytes]:
    """Yield the bytes of ``stream`` as one read returns them (``read1``), at most ``size``
    at a time: a file in chunks of ``size`` but the last, a pipe or a terminal what was
    written to it so far, so that what is typed goes out as soon as it is entered."""
    # sys.stdin.buffer is a BufferedReader (a BytesIO in tests), both of which read1;
    # typeshed calls it a BinaryIO, which does not.
    buffered = cast(io.BufferedIOBase, stream)
    return _read_in_thread(stream, iter(lambda: buffered.read1(size), b""))


async def _read_in_thread(stream: IO[Any], items: Iterator[_T]) -> AsyncIterator[_T]:
    """Yield the items of ``items``, a blocking iterator reading ``stream``.

    A daemon thread reads, so reading works on terminals, pipes and files alike and never
    keeps the program alive; a semaphore bounds how far it reads ahead. (It hands items over
    with callbacks rather than coroutines, which would be left never awaited, with a
    warning, when the program ends while it reads.) A stream closed under the thread ends
    what it yields: the program that owns it is done with it.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[_T | None] = asyncio.Queue()
    ahead = threading.Semaphore(64)

    def read() -> None:
        try:
            try:
                for item in items:
                    ahead.acquire()
                    loop.call_soon_threadsafe(queue.put_nowait, item)
            except ValueError:
                if not stream.closed:
                    raise  # Not the stream closed under it.
            loop.call_soon_threadsafe(queue.put_nowait, None)
        except RuntimeError:
            pass  # The event loop is closed: the program is ending.

    threading.Thread(target=read, name="wslab-stdin", daemon=True).start()
    while (item := await queue.get()) is not None:
        ahead.release()
        yield item


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
