"""Frame codec benchmark: wsdraft against the websockets library, in one process.

Usage::

    python benchmarks/codec.py                  # full run, about 20 s
    python benchmarks/codec.py --quick          # smoke run, a few seconds
    python benchmarks/codec.py --sizes 16 4K 1M

What is measured
================

For each payload size, frames per second parsed and serialized by

* wsdraft: draft frames (hybi-03 layout with FIN, unmasked, BINARY opcode 0x5, so byte 0 is
  0x85), through ``wsdraft.frames.FrameReader`` and ``wsdraft.frames.Frame.serialize``;
* websockets: equivalent unmasked RFC 6455 frames (BINARY opcode 0x2, byte 0 is 0x82),
  through ``websockets.frames.Frame.parse`` and ``websockets.frames.Frame.serialize``.

Both wire formats use the same length encoding (7-bit, 16-bit or 64-bit), so a frame has the
same number of bytes on the wire in both, and both sides get the same payload bytes and the same
number of frames.

Method
======

* A batch is N frames with the same random payload; N is chosen per size so that a batch holds
  at most about 4 MiB and at most 10,000 frames (10,000 frames at 16 B and 125 B, 1,023 at
  4 KiB, 63 at 64 KiB, 3 at 1 MiB).
* Parse: one pass takes a fresh reader, feeds it the whole batch (N concatenated frames) in one
  call and reads every frame out into a list.

  - wsdraft: ``FrameReader(max_frame_size=size)``, ``feed(batch)``, then ``read_frame()`` until
    it returns None.
  - websockets: driven exactly as ``websockets.protocol.Protocol`` drives it. A parser
    generator loops on ``yield from reader.at_eof()`` then
    ``yield from Frame.parse(reader.read_exact, mask=False, max_size=size, extensions=[])``;
    it is primed with ``next()`` on an empty ``websockets.streams.StreamReader``, then
    ``reader.feed_data(batch)`` and one more ``next()`` parse the whole batch, as in
    ``Protocol.receive_data``.

* Serialize: the N frame objects are built once, outside the timing; one pass calls
  ``serialize()`` (wsdraft) or ``serialize(mask=False)`` (websockets) on each of them and keeps
  the results in a list.
* Timing: ``time.perf_counter`` around whole passes; a run repeats passes until it has lasted
  at least ``--min-time`` seconds (0.2 s by default) and yields frames per second. Each
  measurement is the best of ``--repeats`` runs (5 by default). Runs of the four operations are
  interleaved (wsdraft, websockets, wsdraft, ...) so that load from other processes hurts both
  libraries alike. The garbage collector is disabled while timing, as ``timeit`` does.
* With glibc, the script pins malloc's mmap threshold (32 MiB) and trim threshold (1 GiB) before
  measuring, unless ``--default-malloc`` is given. Otherwise the multi-MiB buffers of a batch
  may be mapped and unmapped, or trimmed from the heap, on every pass, depending on what the
  process allocated earlier: websockets' ``StreamReader`` copies a batch into a ``bytearray``
  and reallocates it each time half of it has been consumed, and with default settings its
  64 KiB parse rate swung tenfold (about 9,000 to 90,000 frames/s) with the order of the sizes,
  from page faults alone. Pinning the thresholds makes the figures independent of that order
  and measures the codecs rather than the kernel's page-fault handling.
* Correctness is checked before any timing: both libraries' serialized frames are compared with
  independently built expected bytes, and every parsed frame's opcode, FIN bit and payload are
  compared with the originals.

Ratios are wsdraft / websockets: above 1 means wsdraft is faster. MiB/s counts payload bytes.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import platform
import random
import re
import struct
import sys
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from machine import cpu_model, load_average
from report import markdown_table
from websockets.frames import Frame as RfcFrame
from websockets.frames import Opcode as RfcOpcode
from websockets.streams import StreamReader
from websockets.version import version as websockets_version

from wsdraft.frames import Frame as DraftFrame
from wsdraft.frames import FrameReader
from wsdraft.frames import Opcode as DraftOpcode

KIB = 1024
MIB = 1024 * KIB
DEFAULT_SIZES = (16, 125, 4 * KIB, 64 * KIB, MIB)
BATCH_BYTES = 4 * MIB
MAX_BATCH_FRAMES = 10_000
DEFAULT_REPEATS = 5
DEFAULT_MIN_TIME = 0.2
QUICK_REPEATS = 1
QUICK_MIN_TIME = 0.05
MMAP_THRESHOLD = 32 * MIB  # glibc's largest allowed value on 64-bit platforms
TRIM_THRESHOLD = 1024 * MIB
M_TRIM_THRESHOLD = -1  # mallopt() parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
DRAFT_BYTE0 = 0x80 | DraftOpcode.BINARY  # 0x85
RFC_BYTE0 = 0x80 | RfcOpcode.BINARY  # 0x82


class BenchmarkError(Exception):
    """A library did not round-trip the benchmark's frames correctly."""


@dataclass(frozen=True)
class Case:
    """The inputs for one payload size, identical for both libraries."""

    size: int
    count: int
    payload: bytes
    draft_frames: list[DraftFrame]
    rfc_frames: list[RfcFrame]
    draft_batch: bytes
    rfc_batch: bytes


@dataclass(frozen=True)
class Result:
    """Best frames per second of each operation for one payload size."""

    size: int
    count: int
    draft_parse: float
    rfc_parse: float
    draft_serialize: float
    rfc_serialize: float


Operation = Callable[[Case], Sequence[object]]


# Inputs and correctness -------------------------------------------------------------------


def wire_length(size: int) -> int:
    """Bytes on the wire of an unmasked frame with a ``size``-byte payload (both formats)."""
    if size < 126:
        return 2 + size
    if size < 65536:
        return 4 + size
    return 10 + size


def batch_count(size: int) -> int:
    """Frames per batch: about BATCH_BYTES at most, and at most MAX_BATCH_FRAMES."""
    return max(1, min(MAX_BATCH_FRAMES, BATCH_BYTES // wire_length(size)))


def expected_wire(byte0: int, payload: bytes) -> bytes:
    """Build an unmasked frame by hand, independently of both libraries."""
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", byte0, length)
    elif length < 65536:
        head = struct.pack("!BBH", byte0, 126, length)
    else:
        head = struct.pack("!BBQ", byte0, 127, length)
    return head + payload


def make_case(size: int, count: int | None = None) -> Case:
    """Build the payload, frame objects and wire batches for one size."""
    count = batch_count(size) if count is None else count
    payload = random.Random(size).randbytes(size)
    draft_frames = [DraftFrame(DraftOpcode.BINARY, payload) for _ in range(count)]
    rfc_frames = [RfcFrame(RfcOpcode.BINARY, payload) for _ in range(count)]
    return Case(
        size=size,
        count=count,
        payload=payload,
        draft_frames=draft_frames,
        rfc_frames=rfc_frames,
        draft_batch=expected_wire(DRAFT_BYTE0, payload) * count,
        rfc_batch=expected_wire(RFC_BYTE0, payload) * count,
    )


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchmarkError(message)


def verify(case: Case) -> None:
    """Check that both libraries serialize and parse the case's frames exactly.

    Raises:
        BenchmarkError: a serialized frame or a parsed frame differs from what was expected.
    """
    draft_wire = expected_wire(DRAFT_BYTE0, case.payload)
    rfc_wire = expected_wire(RFC_BYTE0, case.payload)
    _check(
        all(data == draft_wire for data in serialize_wsdraft(case)),
        f"wsdraft serialized a {case.size} B frame wrongly",
    )
    _check(
        all(data == rfc_wire for data in serialize_websockets(case)),
        f"websockets serialized a {case.size} B frame wrongly",
    )
    draft_parsed = parse_wsdraft(case)
    _check(len(draft_parsed) == case.count, f"wsdraft parsed {len(draft_parsed)} frames")
    _check(
        all(
            frame.opcode is DraftOpcode.BINARY and frame.fin and frame.payload == case.payload
            for frame in draft_parsed
        ),
        f"wsdraft parsed a {case.size} B frame wrongly",
    )
    rfc_parsed = parse_websockets(case)
    _check(len(rfc_parsed) == case.count, f"websockets parsed {len(rfc_parsed)} frames")
    _check(
        all(
            frame.opcode is RfcOpcode.BINARY and frame.fin and frame.data == case.payload
            for frame in rfc_parsed
        ),
        f"websockets parsed a {case.size} B frame wrongly",
    )


# The four operations: one pass over a batch each -------------------------------------------


def parse_wsdraft(case: Case) -> list[DraftFrame]:
    """Feed the draft batch to a fresh FrameReader and read every frame out."""
    reader = FrameReader(max_frame_size=case.size)
    reader.feed(case.draft_batch)
    frames = []
    while (frame := reader.read_frame()) is not None:
        frames.append(frame)
    return frames


def _websockets_parser(
    reader: StreamReader, max_size: int, frames: list[RfcFrame]
) -> Generator[None, None, None]:
    """Parse frames as ``websockets.protocol.Protocol.parse`` does, minus event handling."""
    while True:
        if (yield from reader.at_eof()):
            return
        frame = yield from RfcFrame.parse(
            reader.read_exact, mask=False, max_size=max_size, extensions=[]
        )
        frames.append(frame)


def parse_websockets(case: Case) -> list[RfcFrame]:
    """Feed the RFC batch to a fresh StreamReader and parse every frame out."""
    reader = StreamReader()
    frames: list[RfcFrame] = []
    parser = _websockets_parser(reader, case.size, frames)
    next(parser)  # Prime the coroutine, as Protocol.__init__ does.
    reader.feed_data(case.rfc_batch)  # Then what Protocol.receive_data does.
    next(parser)
    return frames


def serialize_wsdraft(case: Case) -> list[bytes]:
    """Serialize every draft frame of the case."""
    return [frame.serialize() for frame in case.draft_frames]


def serialize_websockets(case: Case) -> list[bytes]:
    """Serialize every RFC frame of the case, unmasked."""
    return [frame.serialize(mask=False) for frame in case.rfc_frames]


OPERATIONS: dict[str, Operation] = {
    "draft_parse": parse_wsdraft,
    "rfc_parse": parse_websockets,
    "draft_serialize": serialize_wsdraft,
    "rfc_serialize": serialize_websockets,
}


# Timing -------------------------------------------------------------------------------------


def pin_malloc() -> str:
    """Stop glibc from mapping, unmapping and trimming batch-sized blocks; describe the result."""
    if platform.libc_ver()[0] != "glibc":
        return "default (not glibc)"
    mallopt = ctypes.CDLL(None).mallopt
    if not (
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    ):
        return "default (mallopt failed)"
    return f"glibc, mmap threshold {MMAP_THRESHOLD // MIB} MiB, trim {TRIM_THRESHOLD // MIB} MiB"


@contextmanager
def gc_disabled() -> Iterator[None]:
    """Collect garbage, then keep the collector off, as timeit does."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def frames_per_second(operation: Operation, case: Case, min_time: float) -> float:
    """Repeat passes of ``operation`` for at least ``min_time`` seconds; return frames/s."""
    passes = 0
    start = time.perf_counter()
    elapsed = 0.0
    while passes == 0 or elapsed < min_time:
        operation(case)
        passes += 1
        elapsed = time.perf_counter() - start
    return passes * case.count / elapsed


def measure(case: Case, repeats: int, min_time: float) -> Result:
    """Best frames/s of each operation over ``repeats`` interleaved runs."""
    best = dict.fromkeys(OPERATIONS, 0.0)
    with gc_disabled():
        for _ in range(repeats):
            for name, operation in OPERATIONS.items():
                best[name] = max(best[name], frames_per_second(operation, case, min_time))
    return Result(size=case.size, count=case.count, **best)


# Report -------------------------------------------------------------------------------------


def header(repeats: int, min_time: float, malloc: str) -> list[str]:
    """Lines describing the machine, the software and the settings."""
    return [
        f"Python:     {platform.python_implementation()} {platform.python_version()}",
        f"Platform:   {platform.platform()}",
        f"CPU:        {cpu_model()} ({os.cpu_count()} logical CPUs)",
        f"websockets: {websockets_version}",
        f"Load avg:   {load_average()}",
        f"Method:     best of {repeats} runs of >= {min_time} s each, interleaved; gc disabled",
        f"malloc:     {malloc}",
    ]


def format_size(size: int) -> str:
    """16 -> '16 B', 4096 -> '4 KiB', 1048576 -> '1 MiB'."""
    for unit, name in ((MIB, "MiB"), (KIB, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} B"


def frames_table(results: Sequence[Result]) -> list[str]:
    """Frames per second of both libraries, and their ratios."""
    columns = (
        "size",
        "frames/batch",
        "wsdraft parse f/s",
        "websockets parse f/s",
        "ratio",
        "wsdraft serialize f/s",
        "websockets serialize f/s",
        "ratio",
    )
    rows = [
        (
            format_size(r.size),
            f"{r.count:,}",
            f"{r.draft_parse:,.0f}",
            f"{r.rfc_parse:,.0f}",
            f"{r.draft_parse / r.rfc_parse:.2f}",
            f"{r.draft_serialize:,.0f}",
            f"{r.rfc_serialize:,.0f}",
            f"{r.draft_serialize / r.rfc_serialize:.2f}",
        )
        for r in results
    ]
    return markdown_table(columns, rows)


def throughput_table(results: Sequence[Result]) -> list[str]:
    """Payload MiB per second of both libraries."""
    columns = (
        "size",
        "wsdraft parse MiB/s",
        "websockets parse MiB/s",
        "wsdraft serialize MiB/s",
        "websockets serialize MiB/s",
    )
    rows = [
        (
            format_size(r.size),
            *(
                f"{rate * r.size / MIB:,.1f}"
                for rate in (r.draft_parse, r.rfc_parse, r.draft_serialize, r.rfc_serialize)
            ),
        )
        for r in results
    ]
    return markdown_table(columns, rows)


# Command line -------------------------------------------------------------------------------

_SIZE = re.compile(r"(\d+)\s*(B|K|KIB|M|MIB)?", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": KIB, "KIB": KIB, "M": MIB, "MIB": MIB}


def parse_size(text: str) -> int:
    """Parse '125', '4K', '64KiB' or '1M' into a number of bytes."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    return int(match[1]) * _UNITS[(match[2] or "").upper()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short run each: a smoke run")
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=parse_size,
        default=list(DEFAULT_SIZES),
        metavar="SIZE",
        help="payload sizes, e.g. 16 125 4K 64K 1M (default: %(default)s)",
    )
    parser.add_argument("--repeats", type=int, help=f"runs per measurement ({DEFAULT_REPEATS})")
    parser.add_argument("--min-time", type=float, help=f"seconds per run ({DEFAULT_MIN_TIME})")
    parser.add_argument(
        "--default-malloc", action="store_true", help="leave glibc's malloc thresholds alone"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Verify, measure and print the tables."""
    args = parse_args(argv)
    repeats = args.repeats or (QUICK_REPEATS if args.quick else DEFAULT_REPEATS)
    min_time = args.min_time or (QUICK_MIN_TIME if args.quick else DEFAULT_MIN_TIME)
    malloc = "default (--default-malloc)" if args.default_malloc else pin_malloc()
    print("\n".join(header(repeats, min_time, malloc)), flush=True)

    cases = [make_case(size) for size in args.sizes]
    for case in cases:
        verify(case)
    print("Correctness: both libraries round-trip every frame of every batch.\n", flush=True)

    results = []
    for case in cases:
        results.append(measure(case, repeats, min_time))
        print(f"  measured {format_size(case.size)}", file=sys.stderr, flush=True)

    print("\n".join(["", *frames_table(results), "", *throughput_table(results)]))
    print("\nRatio = wsdraft / websockets; > 1 means wsdraft is faster.")
    print(f"Load avg at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
