"""Run-id rules, read top to bottom:

1. Generated ids are `{YYYYMMDD}T{HHMMSS}Z-{agent_name}-{uuid8}`, from the command's time
   (in UTC) and nonce; `/`, `\\` and NUL in the agent name become `_`, so a generated id
   obeys the same character rule as a custom one.
2. A custom id is refused when it is empty or blank (`empty`), longer than 255 characters
   (`too_long`), or contains `/`, `\\` or NUL (`invalid_chars`), checked in that order; a
   refused custom id falls back to a generated one.
3. A custom id already active gets `-duplicate-{uuid8}` (the base is cut so the result
   stays within 255 characters); a generated id already active is generated anew."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from returns.result import Failure, Result, Success

MAX_RUN_ID_LENGTH = 255
RejectionReason = Literal["empty", "too_long", "invalid_chars"]
_DUPLICATE_MARK = "-duplicate-"
_FORBIDDEN = ("/", "\\", "\x00")
_SAFE_NAME = str.maketrans({mark: "_" for mark in _FORBIDDEN})


def generate_run_id(agent_name: str, at: datetime, nonce8: str) -> str:
    """A fresh run id for `agent_name` at time `at` (an aware datetime)."""
    utc = at if at.tzinfo is timezone.utc else at.astimezone(timezone.utc)
    # %-formatting of the fields: a third of the cost of strftime, on every start_run.
    return "%04d%02d%02dT%02d%02d%02dZ-%s-%s" % (
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, agent_name.translate(_SAFE_NAME), nonce8
    )


def validate_custom_run_id(run_id: str) -> Result[str, RejectionReason]:
    """The custom id itself if acceptable, else the reason it is refused."""
    if not run_id.strip():
        return Failure("empty")
    if len(run_id) > MAX_RUN_ID_LENGTH:
        return Failure("too_long")
    if any(mark in run_id for mark in _FORBIDDEN):
        return Failure("invalid_chars")
    return Success(run_id)


def duplicate_run_id(custom_run_id: str, nonce8: str) -> str:
    """The id a duplicate custom id is given instead."""
    suffix = f"{_DUPLICATE_MARK}{nonce8}"
    return custom_run_id[: MAX_RUN_ID_LENGTH - len(suffix)] + suffix
