"""Status rules: the lifecycle of a run (`running` -> one terminal status) and how the
statuses agents say map onto the statuses the service stores.

- A run starts `running`; `end_run` moves it to exactly one terminal status.
- Public `failed` is stored as `failure`; `completed` and `succeeded` as `success`.
- Matching ignores case and surrounding blanks.
- Anything else is not a status: the run still ends, as `failure`, with a warning, so the
  end and its metrics are never lost to a typo; its `error_summary` says so
  (`unknown status 'weird' recorded as failure`) unless the run already has a summary
  from the agent, which says more about what went wrong and is kept."""

from __future__ import annotations

from telemetry.core.wording import shortened
from telemetry.effects.records import STORED_STATUSES

UNKNOWN_STATUS_FALLBACK = "failure"
_ALIASES = {"failed": "failure", "completed": "success", "succeeded": "success"}
_TERMINAL_BY_NAME = {
    **{status: status for status in STORED_STATUSES if status != "running"},
    **_ALIASES,
}


def terminal_status(said: str) -> str | None:
    """The stored terminal status for what an agent said, or None if it is not one."""
    return _TERMINAL_BY_NAME.get(said.strip().lower())


def stored_status(said: str) -> str | None:
    """The stored status (terminal or `running`) for a status given on the wire."""
    normalized = said.strip().lower()
    return "running" if normalized == "running" else _TERMINAL_BY_NAME.get(normalized)


def unknown_status_summary(said: str) -> str:
    """The `error_summary` of a run ended with a status that is not one."""
    return f"unknown status '{shortened(said)}' recorded as {UNKNOWN_STATUS_FALLBACK}"
