"""Commit-association rules: a hash is 7 to 40 hexadecimal characters (kept in lower
case), the source is one of `manual`, `llm`, `ci`; author and timestamp are optional text."""

from __future__ import annotations

import re

from returns.result import Failure, Result, Success

from telemetry.effects.records import COMMIT_SOURCES, CommitDetails

_COMMIT_HASH = re.compile(r"[0-9a-fA-F]{7,40}")


def validate_commit(
    commit_hash: str,
    commit_source: str,
    commit_author: str | None,
    commit_timestamp: str | None,
) -> Result[CommitDetails, str]:
    """The commit to record, or the message explaining why it cannot be."""
    if not _COMMIT_HASH.fullmatch(commit_hash):
        return Failure(f"Invalid commit hash '{commit_hash}': expected 7-40 hex characters")
    if commit_source not in COMMIT_SOURCES:
        return Failure(
            f"Invalid commit source '{commit_source}': expected one of {', '.join(COMMIT_SOURCES)}"
        )
    return Success(
        CommitDetails(commit_hash.lower(), commit_source, commit_author, commit_timestamp)
    )
