"""The core stays pure: no module under `telemetry/core` imports I/O, clocks, randomness,
logging, threads or the shell (checked on the source, by AST), and importing the core in a
fresh interpreter loads neither the shell, the service nor httpx."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import telemetry.core

CORE_DIR = Path(telemetry.core.__file__).parent
FORBIDDEN_MODULES = frozenset(
    {
        "telemetry.shell",
        "telemetry.service",
        "telemetry.cli",
        "httpx",
        "logging",
        "threading",
        "time",
        "random",
        "secrets",
        "uuid",
        "os",
        "socket",
        "sqlite3",
        "subprocess",
        "importlib",
        "asyncio",
        "multiprocessing",
    }
)
# A clock read is a hidden input even through an imported `datetime`, and even uncalled
# (`attrs.Factory(datetime.now)`); the builtins below do I/O.
CLOCK_ATTRIBUTES = frozenset({"now", "utcnow", "today"})
IO_BUILTINS = frozenset({"open", "print", "input", "__import__", "exec", "eval"})


def _is_forbidden(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN_MODULES)


def _imported_modules(node: ast.ImportFrom, package: str) -> list[str]:
    """`from X import a, b` names X, X.a and X.b; relative imports are resolved in `package`."""
    base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
    module = ".".join([*base, *([node.module] if node.module else [])])
    return [module, *(f"{module}.{alias.name}" for alias in node.names)]


def impurities(source: str, filename: str = "<source>", package: str = "telemetry.core") -> list[str]:
    """Every forbidden import, clock read and I/O builtin call in `source`, with its line."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [f"{where} imports {alias.name}" for alias in node.names if _is_forbidden(alias.name)]
        elif isinstance(node, ast.ImportFrom) and any(map(_is_forbidden, _imported_modules(node, package))):
            found.append(f"{where} imports from {'.' * node.level}{node.module or ''}")
        elif isinstance(node, ast.Attribute) and node.attr in CLOCK_ATTRIBUTES:
            found.append(f"{where} reads the clock (.{node.attr})")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in IO_BUILTINS:
            found.append(f"{where} calls {node.func.id}()")
    return found


def test_core_modules_exist() -> None:
    assert len(list(CORE_DIR.glob("*.py"))) >= 5


@pytest.mark.parametrize("path", sorted(CORE_DIR.rglob("*.py")), ids=lambda path: path.name)
def test_core_module_is_pure(path: Path) -> None:
    assert impurities(path.read_text(encoding="utf-8"), path.name) == []


@pytest.mark.parametrize(
    "source",
    [
        "import os",
        "import os.path",
        "from os import environ",
        "import logging as log",
        "from telemetry.shell.wire import dumps",
        "from telemetry import shell",
        "import httpx",
        "from time import monotonic",
        "import random",
        "import uuid",
        "import threading",
        "import sqlite3, json",
        "import subprocess",
        "import socket",
        "from datetime import datetime\nstamp = datetime.now()",
        "import datetime\nstamp = datetime.datetime.utcnow()",
        "from datetime import date\nday = date.today()",
        "data = open('x').read()",
        "from ..shell import wire",
        "from .. import service",
        "import attrs\nstamp = attrs.Factory(datetime.now)",
    ],
)
def test_purity_check_catches_impurity(source: str) -> None:
    """The checker itself: each of these must be reported."""
    assert impurities(source) != []


def test_purity_check_allows_pure_imports() -> None:
    source = (
        "import attrs\nfrom datetime import datetime\nfrom returns.result import Success\nimport re\n"
        "from .state import RegistryState\nfrom telemetry.effects.records import RunRecord\n"
        "stamp = at.isoformat()\n"
    )
    assert impurities(source) == []


def test_importing_core_loads_no_shell_service_or_httpx() -> None:
    probe = (
        "import json, sys, telemetry.core, telemetry.effects\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'httpx'"
        " or m.startswith(('telemetry.shell', 'telemetry.service')))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == []
