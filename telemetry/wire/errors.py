"""The safe text of an error, for logs, warnings and one-line command errors: never raises,
even when the error's own `__str__` does."""

from __future__ import annotations


def error_message(error: BaseException) -> str:
    """`str(error)`, or the error's type name when that fails."""
    try:
        return str(error)
    except Exception:
        return type(error).__name__


def describe(error: BaseException) -> str:
    """`Type: message` of an error, even when its `__str__` itself fails."""
    try:
        return f"{type(error).__name__}: {error}"
    except Exception:
        return type(error).__name__
