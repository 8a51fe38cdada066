"""The imperative shell: the facade, the interpreter and everything that touches the world.

Importing it imports httpx without httpx's own command line: httpx's package init imports
`httpx._main` (click, rich, pygments) whenever those happen to be installed, as they are
beside the `cli` extra, and an agent's process would carry them for nothing."""

from __future__ import annotations

import sys


def _import_httpx_without_its_command_line() -> None:
    if "httpx" in sys.modules:
        return  # the agent imported it first: nothing to save
    # A None entry makes `from ._main import main` raise ImportError, which httpx catches
    # (it then defines a stub `main`); the entry goes away at once, so a later explicit
    # `import httpx._main` still works.
    sys.modules["httpx._main"] = None  # type: ignore[assignment]
    try:
        import httpx  # noqa: F401
    finally:
        if "httpx._main" in sys.modules and sys.modules["httpx._main"] is None:
            del sys.modules["httpx._main"]


_import_httpx_without_its_command_line()
