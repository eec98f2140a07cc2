"""Smoke test of benchmarks/codec.py: it runs and checks correctness. No timing assertions."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "codec.py"


@pytest.fixture(scope="module")
def codec() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("wslab_benchmarks_codec", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    # As when run as a script: its folder comes first on the path, for benchmarks/machine.py.
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(SCRIPT.parent))
        sys.modules.pop("machine", None)
        del sys.modules[spec.name]


@pytest.mark.parametrize("size", [16, 300, 70_000])
def test_verify_passes(codec: ModuleType, size: int) -> None:
    codec.verify(codec.make_case(size, count=3))


def test_verify_catches_a_wrong_payload(codec: ModuleType) -> None:
    case = codec.make_case(125, count=3)
    corrupted = bytearray(case.rfc_batch)
    corrupted[-1] ^= 0xFF
    with pytest.raises(codec.BenchmarkError):
        codec.verify(dataclasses.replace(case, rfc_batch=bytes(corrupted)))


def test_measure_returns_positive_rates(codec: ModuleType) -> None:
    result = codec.measure(codec.make_case(125, count=10), repeats=1, min_time=0.0)
    assert result.size == 125
    assert result.count == 10
    rates = [result.draft_parse, result.rfc_parse, result.draft_serialize, result.rfc_serialize]
    assert all(rate > 0 for rate in rates)


def test_tables_have_a_row_per_size(codec: ModuleType) -> None:
    result = codec.measure(codec.make_case(16, count=5), repeats=1, min_time=0.0)
    assert len(codec.frames_table([result])) == 3
    assert len(codec.throughput_table([result])) == 3


def test_parse_size(codec: ModuleType) -> None:
    assert [codec.parse_size(text) for text in ("125", "4K", "64KiB", "1M")] == [
        125,
        4096,
        65536,
        1048576,
    ]
