"""The core does no I/O: no wsdraft module may import an I/O, clock or framework module.

Guide G1: checked on the source with ``ast``, so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import wsdraft

FORBIDDEN = frozenset(
    {
        "asyncio",
        "socket",
        "ssl",
        "time",
        "threading",
        "selectors",
        "fastapi",
        "starlette",
        "uvicorn",
        "redis",
    }
)
PACKAGE = Path(wsdraft.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))


def forbidden_imports(source: str) -> list[str]:
    """Return every forbidden module ``source`` imports, and every dynamic import."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call):
            function = node.func
            name = getattr(function, "id", None) or getattr(function, "attr", None)
            if name in ("__import__", "import_module"):
                found.append(f"dynamic import on line {node.lineno}")
        found += [name for name in names if name.split(".")[0] in FORBIDDEN]
    return found


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import asyncio", ["asyncio"]),
        ("import os, socket as s", ["socket"]),
        ("import asyncio.subprocess", ["asyncio.subprocess"]),
        ("from time import monotonic", ["time"]),
        ("from starlette.websockets import WebSocket", ["starlette.websockets"]),
        ("def f():\n    import ssl", ["ssl"]),
        ("import redis.asyncio", ["redis.asyncio"]),
        ("m = __import__('threading')", ["dynamic import on line 1"]),
        ("import importlib\nm = importlib.import_module('uvicorn')", ["dynamic import on line 2"]),
        ("import timeit, sockets, asyncio_extras", []),
        ("from . import time", []),
        ("from .frames import Frame", []),
    ],
)
def test_the_import_checker_finds_forbidden_imports(source: str, found: list[str]) -> None:
    assert forbidden_imports(source) == found


def test_every_module_of_the_core_is_checked() -> None:
    names = {path.stem for path in MODULES}
    assert names >= {
        "__init__",
        "client",
        "events",
        "exceptions",
        "frames",
        "handshake",
        "limits",
        "protocol",
        "server",
        "state",
        "uri",
    }


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_the_core_module_imports_no_io(path: Path) -> None:
    assert forbidden_imports(path.read_text(encoding="utf-8")) == []


def test_the_package_exports_every_name_in_all() -> None:
    for name in wsdraft.__all__:
        assert getattr(wsdraft, name) is not None, name
    assert sorted(wsdraft.__all__) == sorted(set(wsdraft.__all__))


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_every_core_module_imports_cleanly(path: Path) -> None:
    module = "wsdraft" if path.stem == "__init__" else f"wsdraft.{path.stem}"
    assert importlib.import_module(module).__doc__
