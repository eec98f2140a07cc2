"""Standard input read in a thread: lines, byte lines and chunks, until the stream ends."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import TypeVar

from client.cli.terminal import read_byte_lines, read_chunks, read_lines
from tests.waiting import within

T = TypeVar("T")


async def test_lines_come_without_their_endings_until_the_stream_ends() -> None:
    text = io.StringIO("one\r\ntwo\nthree")
    data = io.BytesIO(b"caf\xe9\nok\n")
    assert await within(_all(read_lines(text)), "the lines") == ["one", "two", "three"]
    assert await within(_all(read_byte_lines(data)), "the byte lines") == [b"caf\xe9", b"ok"]
    chunks = read_chunks(io.BytesIO(b"abcdefg"), 3)
    assert await within(_all(chunks), "the chunks") == [b"abc", b"def", b"g"]


async def test_a_stream_closed_under_the_reader_ends_its_input_quietly() -> None:
    # As when a command returns while its reader waits its turn (a busy machine), and the
    # stream is then closed: the reader must end, not die in its thread.
    closed = io.BytesIO(b"never read\n")
    closed.close()
    assert await within(_all(read_byte_lines(closed)), "the end of the input") == []


async def _all(items: AsyncIterator[T]) -> list[T]:
    return [item async for item in items]
