"""How the modules of ``client/`` import each other: the library below the command line
(``client/cli/``), and no circle, which would make a module load every module of its circle.

The graph is read from the source with :mod:`ast`, so that an import inside a function, or
only for type checking, counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

import client

PACKAGE = Path(client.__file__).parent


def module_name(path: Path) -> str:
    """The dotted name of the module at ``path``: ``client.cli`` for client/cli/__init__.py."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str) -> set[str]:
    """The modules of ``client`` that the module ``name`` imports.

    ``from .chat import ChatState`` imports ``client.chat``; ``from . import chat`` and
    ``from client import chat`` import ``client.chat`` too when it is a module, else they
    import the package's ``__init__``.
    """
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found |= {
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            }
    return {module for module in found if module in MODULES} - {name}


GRAPH = {name: imported(name) for name in MODULES}


def is_command_line(name: str) -> bool:
    """True for the modules of ``wslab``: ``client.cli``'s, and ``python -m client``."""
    return name in ("client.cli", "client.__main__") or name.startswith("client.cli.")


def test_the_import_graph_sees_absolute_relative_and_package_imports() -> None:
    assert {"client.cli.base", "client.cli.chat"} <= GRAPH["client.cli"]  # from . import chat
    assert {"client.chat", "client.cli.base"} <= GRAPH["client.cli.chat"]  # .. and .
    assert GRAPH["client"] >= {"client.connection", "client.exceptions", "client.network"}
    assert GRAPH["client.display"] == set()


def test_no_module_of_the_client_imports_itself_through_others() -> None:
    try:
        graphlib.TopologicalSorter(GRAPH).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"an import circle: {' -> '.join(exc.args[1])}")


def test_the_library_imports_nothing_of_the_command_line() -> None:
    library = {name: GRAPH[name] for name in MODULES if not is_command_line(name)}
    assert {name: sorted(filter(is_command_line, deps)) for name, deps in library.items()} == {
        name: [] for name in library
    }
