"""Commit-association rules: a hash is 7 to 40 hexadecimal characters (kept in lower
case), the source is one of `manual`, `llm`, `ci`; author and timestamp are optional text.
`associate_commit` answers True only when the commit is stored in the service or durably
buffered, and says which (`commit_reply`)."""

from __future__ import annotations

import re

from returns.result import Failure, Result, Success

from telemetry.core.commands import CommitSettled
from telemetry.effects.records import COMMIT_SOURCES, CommitDetails

COMMIT_NOT_AVAILABLE = "[ERROR] Commit association not available"

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


def commit_reply(settled: CommitSettled) -> tuple[bool, str]:
    """The reply of `associate_commit` once the world answered: `(True, ...)` only when
    the commit is stored or durably buffered."""
    commit, run_id = settled.commit_hash, settled.run_id
    match settled.outcome:
        case "associated":
            return True, f"Commit {commit} associated with run {run_id}"
        case "buffered":
            return True, f"Commit {commit} buffered for run {run_id}: it will be associated when the service can be reached"
        case "not_stored" if settled.held:
            return False, (
                f"{COMMIT_NOT_AVAILABLE}: nothing was stored for run {run_id} "
                "(the service did not answer and the buffer could not be written)"
            )
        case "not_stored":
            return False, COMMIT_NOT_AVAILABLE
        case "run_unknown":
            return False, f"Run ID not found: {run_id}"
        case "refused":
            return False, f"Commit association failed for run {run_id}: {settled.reason}"
