"""Tests of wsdraft.frames: the draft's example frames, length encodings, framing errors."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsdraft import MAX_PAYLOAD_SIZE, Frame, FrameReader, FramingError, Opcode, PayloadTooBig
from wsdraft.frames import CONTROL_OPCODES, MAX_CONTROL_PAYLOAD, close_body, encode_frame

BIG = 2**63 - 1  # A reader that accepts any length.


def read_one(wire: bytes, max_frame_size: int = BIG) -> Frame | None:
    """Parse exactly one frame from ``wire``; it must use every byte."""
    reader = FrameReader(max_frame_size)
    reader.feed(wire)
    frame = reader.read_frame()
    assert reader.buffered == 0
    assert reader.read_frame() is None
    return frame


def assert_roundtrip(frame: Frame, wire: bytes) -> None:
    """parse(wire) == frame and serialize(frame) == wire, also when fed byte by byte."""
    assert frame.serialize() == wire
    assert read_one(wire) == frame
    reader = FrameReader(BIG)
    frames = []
    for byte in wire:
        reader.feed(bytes([byte]))
        frames.append(reader.read_frame())
    assert frames == [None] * (len(wire) - 1) + [frame]


# Examples of the draft (spec §1.2 "New examples" and §4.10).
@pytest.mark.parametrize(
    ("frame", "wire"),
    [
        pytest.param(Frame(Opcode.TEXT, b"Hello"), b"\x84\x05Hello", id="single-frame-text"),
        pytest.param(
            Frame(Opcode.TEXT, b"Hel", fin=False), b"\x04\x03Hel", id="first-text-fragment"
        ),
        pytest.param(Frame(Opcode.CONTINUATION, b"lo"), b"\x80\x02lo", id="last-text-fragment"),
        pytest.param(Frame(Opcode.PING, b"Hello"), b"\x82\x05Hello", id="ping"),
        pytest.param(Frame(Opcode.PONG, b"Hello"), b"\x83\x05Hello", id="pong"),
        pytest.param(Frame(Opcode.CLOSE, b""), b"\x81\x00", id="empty-close"),
        pytest.param(
            Frame(Opcode.BINARY, bytes(range(256))),
            b"\x85\x7e\x01\x00" + bytes(range(256)),
            id="256-byte-binary",
        ),
        pytest.param(
            Frame(Opcode.BINARY, b"\xa5" * 65536),
            b"\x85\x7f\x00\x00\x00\x00\x00\x01\x00\x00" + b"\xa5" * 65536,
            id="64-kib-binary",
        ),
        pytest.param(
            Frame(Opcode.TEXT, b"x" * 200),
            b"\x84\x7e\x00\xc8" + b"x" * 200,
            id="200-byte-text-16-bit-length",
        ),
        pytest.param(
            Frame(
                Opcode.HELLO,
                bytes.fromhex("15f0d2278bcd457fee7ebe0c369cbf255a4451fc58d7cc4f"),
            ),
            bytes.fromhex("8f1815f0d2278bcd457fee7ebe0c369cbf255a4451fc58d7cc4f"),
            id="server-hello",
        ),
        pytest.param(
            Frame(Opcode.HELLO, bytes.fromhex("33122035d11258fd7c764314580e539c")),
            bytes.fromhex("8f1033122035d11258fd7c764314580e539c"),
            id="client-hello",
        ),
    ],
)
def test_example_frame_parses_and_serializes_byte_for_byte(frame: Frame, wire: bytes) -> None:
    assert_roundtrip(frame, wire)


@pytest.mark.parametrize(
    ("size", "head"),
    [
        (0, b"\x85\x00"),
        (125, b"\x85\x7d"),
        (126, b"\x85\x7e\x00\x7e"),
        (127, b"\x85\x7e\x00\x7f"),
        (65535, b"\x85\x7e\xff\xff"),
        (65536, b"\x85\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
        (65537, b"\x85\x7f\x00\x00\x00\x00\x00\x01\x00\x01"),
    ],
)
def test_encode_frame_uses_the_shortest_length_encoding(size: int, head: bytes) -> None:
    payload = b"\x00" * size
    assert encode_frame(Opcode.BINARY, payload) == head + payload


def test_encode_frame_clears_fin_on_a_fragment() -> None:
    assert encode_frame(Opcode.TEXT, b"Hel", fin=False) == b"\x04\x03Hel"
    assert encode_frame(Opcode.CONTINUATION, b"lo", fin=False) == b"\x00\x02lo"


def test_encode_frame_accepts_bytearray_and_memoryview_payloads() -> None:
    assert encode_frame(Opcode.BINARY, bytearray(b"ab")) == b"\x85\x02ab"
    assert encode_frame(Opcode.BINARY, memoryview(b"xaby")[1:3]) == b"\x85\x02ab"


@pytest.mark.parametrize(
    ("wire", "frame"),
    [
        pytest.param(b"\x84\x7e\x00\x05Hello", Frame(Opcode.TEXT, b"Hello"), id="16-bit"),
        pytest.param(
            b"\x84\x7f\x00\x00\x00\x00\x00\x00\x00\x05Hello",
            Frame(Opcode.TEXT, b"Hello"),
            id="64-bit",
        ),
        pytest.param(
            b"\x85\x7f\x00\x00\x00\x00\x00\x00\x00\x00", Frame(Opcode.BINARY, b""), id="empty"
        ),
    ],
)
def test_reader_accepts_a_length_that_is_not_minimally_encoded(wire: bytes, frame: Frame) -> None:
    # Minimal length encoding was only required from hybi-14 on (spec §2.1).
    assert read_one(wire) == frame


def test_reader_returns_none_until_a_frame_is_complete() -> None:
    reader = FrameReader(BIG)
    assert reader.read_frame() is None
    for chunk in (b"\x85", b"\x7e", b"\x01", b"\x00", b"\x00" * 255):
        reader.feed(chunk)
        assert reader.read_frame() is None
    reader.feed(b"\x00")
    assert reader.read_frame() == Frame(Opcode.BINARY, bytes(256))


def test_reader_waits_for_the_whole_64_bit_length() -> None:
    reader = FrameReader(BIG)
    reader.feed(b"\x85\x7f\x00\x00\x00\x00\x00\x00\x00")
    assert reader.read_frame() is None
    reader.feed(b"\x01x")
    assert reader.read_frame() == Frame(Opcode.BINARY, b"x")


def test_reader_reads_several_frames_fed_at_once() -> None:
    reader = FrameReader(BIG)
    reader.feed(b"\x04\x03Hel\x82\x00\x80\x02lo\x84")
    assert reader.read_frame() == Frame(Opcode.TEXT, b"Hel", fin=False)
    assert reader.read_frame() == Frame(Opcode.PING, b"")
    assert reader.read_frame() == Frame(Opcode.CONTINUATION, b"lo")
    assert reader.read_frame() is None
    assert reader.buffered == 1
    reader.feed(b"\x01!")
    assert reader.read_frame() == Frame(Opcode.TEXT, b"!")
    assert reader.buffered == 0


def test_reader_returns_payloads_as_bytes_after_buffering() -> None:
    reader = FrameReader(BIG)
    reader.feed(b"\x84\x05He")
    assert reader.read_frame() is None
    reader.feed(b"llo")
    frame = reader.read_frame()
    assert frame == Frame(Opcode.TEXT, b"Hello")
    assert frame is not None
    assert type(frame.payload) is bytes


def test_reader_peek_and_read_exact_do_not_parse_frames() -> None:
    reader = FrameReader(BIG)
    reader.feed(b"\x8f\x10abc")
    assert reader.peek(2) == b"\x8f\x10"
    assert reader.peek(10) == b"\x8f\x10abc"
    assert reader.buffered == 5
    assert reader.read_exact(6) is None
    assert reader.read_exact(3) == b"\x8f\x10a"
    assert reader.buffered == 2
    reader.feed(b"d")
    assert reader.read_exact(3) == b"bcd"
    assert reader.buffered == 0


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        pytest.param(b"\xc4\x00", "reserved bits RSV1-3 must be 0", id="rsv1"),
        pytest.param(b"\xa4\x00", "reserved bits RSV1-3 must be 0", id="rsv2"),
        pytest.param(b"\x94\x00", "reserved bits RSV1-3 must be 0", id="rsv3"),
        pytest.param(b"\x74\x00", "reserved bits RSV1-3 must be 0", id="rsv1-3-no-fin"),
        pytest.param(b"\x84\x80", "reserved bit RSV4 must be 0", id="rsv4"),
        pytest.param(b"\x84\xfe", "reserved bit RSV4 must be 0", id="rsv4-16-bit"),
        *(
            pytest.param(bytes([0x80 | op, 0]), f"reserved opcode 0x{op:X}", id=f"opcode-{op:X}")
            for op in range(0x6, 0xF)
        ),
        pytest.param(b"\x0a\x00", "reserved opcode 0xA", id="opcode-A-no-fin"),
        pytest.param(
            b"\x85\x7f\x80\x00\x00\x00\x00\x00\x00\x00",
            "64-bit length with its most significant bit set",
            id="64-bit-msb",
        ),
        pytest.param(
            b"\x85\x7f\xff\xff\xff\xff\xff\xff\xff\xff",
            "64-bit length with its most significant bit set",
            id="64-bit-all-ones",
        ),
    ],
)
def test_reader_refuses_a_frame_that_breaks_the_framing_rules(wire: bytes, message: str) -> None:
    reader = FrameReader(BIG)
    reader.feed(wire)
    with pytest.raises(FramingError) as exc_info:
        reader.read_frame()
    assert str(exc_info.value) == message


@pytest.mark.parametrize(
    ("head", "size"),
    [
        pytest.param(b"\x85\x65", 101, id="7-bit"),
        pytest.param(b"\x85\x7e\x01\x00", 256, id="16-bit"),
        pytest.param(b"\x85\x7f\x00\x00\x00\x00\x00\x10\x00\x00", 2**20, id="64-bit"),
        pytest.param(b"\x85\x7f\x7f\xff\xff\xff\xff\xff\xff\xff", MAX_PAYLOAD_SIZE, id="max"),
    ],
)
def test_reader_refuses_a_frame_over_the_limit_before_its_payload_arrives(
    head: bytes, size: int
) -> None:
    reader = FrameReader(max_frame_size=100)
    reader.feed(head)
    with pytest.raises(PayloadTooBig) as exc_info:
        reader.read_frame()
    assert str(exc_info.value) == f"frame of {size} bytes exceeds the limit of 100 bytes"
    assert (exc_info.value.what, exc_info.value.size, exc_info.value.limit) == ("frame", size, 100)


def test_reader_accepts_a_frame_exactly_at_the_limit() -> None:
    assert read_one(b"\x85\x64" + bytes(100), max_frame_size=100) == Frame(
        Opcode.BINARY, bytes(100)
    )


def test_opcodes_have_the_drafts_values() -> None:
    assert {opcode.name: opcode.value for opcode in Opcode} == {
        "CONTINUATION": 0x0,
        "CLOSE": 0x1,
        "PING": 0x2,
        "PONG": 0x3,
        "TEXT": 0x4,
        "BINARY": 0x5,
        "HELLO": 0xF,
    }
    assert {Opcode.CLOSE, Opcode.PING, Opcode.PONG, Opcode.HELLO} == CONTROL_OPCODES
    assert MAX_CONTROL_PAYLOAD == 125


def test_frame_defaults_to_fin() -> None:
    assert Frame(Opcode.TEXT, b"") == Frame(Opcode.TEXT, b"", True)


# Lengths around every switch of the length encoding, plus small arbitrary ones.
payload_sizes = st.one_of(
    st.integers(min_value=0, max_value=300),
    st.sampled_from([125, 126, 127, 65535, 65536, 65537]),
)


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    opcode = draw(st.sampled_from(list(Opcode)))
    size = draw(payload_sizes)
    pattern = draw(st.binary(min_size=1, max_size=8))
    payload = (pattern * (size // len(pattern) + 1))[:size]
    return Frame(opcode, payload, draw(st.booleans()))


@settings(max_examples=150, deadline=None)
@given(frame=frames())
def test_a_serialized_frame_reads_back_as_the_same_frame(frame: Frame) -> None:
    assert read_one(frame.serialize()) == frame


@settings(max_examples=50, deadline=None)
@given(sequence=st.lists(frames(), max_size=6), cuts=st.lists(st.integers(0, 200_000)))
def test_a_stream_of_frames_reads_back_however_it_is_cut(
    sequence: list[Frame], cuts: list[int]
) -> None:
    wire = b"".join(frame.serialize() for frame in sequence)
    bounds = sorted({0, len(wire), *(cut % (len(wire) + 1) for cut in cuts)})
    reader = FrameReader(BIG)
    parsed = []
    for start, end in itertools.pairwise(bounds):
        reader.feed(wire[start:end])
        while (frame := reader.read_frame()) is not None:
            parsed.append(frame)
    assert parsed == sequence
    assert reader.buffered == 0


@pytest.mark.parametrize(
    ("reason", "body"),
    [
        ("going away", b"going away"),
        ("x" * 200, b"x" * 125),
        ("x" * 124 + "é", b"x" * 124),
    ],
    ids=["short", "cut", "cut-between-characters"],
)
def test_a_close_reason_becomes_at_most_125_bytes_of_whole_characters(
    reason: str, body: bytes
) -> None:
    assert close_body(reason) == body
