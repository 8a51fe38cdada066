"""How the core quotes what an agent gave in its messages and summaries: shortened, so that
a megabyte-long id or status cannot flood a log line or a stored summary."""

from __future__ import annotations

QUOTED_CHARS = 40


def shortened(given: str, limit: int = QUOTED_CHARS) -> str:
    """`given`, or its first `limit` characters and an ellipsis when it is longer."""
    return given if len(given) <= limit else given[:limit] + "…"
