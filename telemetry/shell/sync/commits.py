"""Commits for runs known only by their run id (the client did not hold the run): the run is
found on the service by run id, then the commit goes to its associate-commit endpoint. The
client's delivery does this in the caller's thread; the sync worker does it for buffered
commit entries, after the creates and updates of its pass (whose runs may be the ones the
commits name). `associate_by_run_id` is a coroutine over `ServiceCalls`, for every runtime.

Rules:
- Found: the newest stored run with that run id gets the commit.
- Not on the service, but its run may still be in the buffer: the commit waits
  (`RunBuffered`) in the buffer until its run has arrived. Sync knows (it reads the run ids
  of the pending entries once per pass); the client only asks whether the buffer holds any
  create or update, since reading them all could stall the agent.
- Not on the service and not in the buffer: `RunUnknown`. Sync asks the service once more
  after it looked at the buffer, so a create another worker delivered (and removed)
  meanwhile is seen and no commit is rejected early, then moves the entry to `rejected/`."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

import attrs

from telemetry.effects.records import CommitDetails
from telemetry.core.verdicts import Verdict, verdict
from telemetry.shell.blocking_port import BlockingCalls
from telemetry.shell.ports import ServiceCalls, run_blocking
from telemetry.shell.sending import answer_of
from telemetry.shell.service_api import Outcome, ServiceApi
from telemetry.shell.sync.passes import SyncPass


@attrs.frozen
class RunBuffered:
    """The service does not hold the run yet, but the buffer holds its create or an update."""

    run_id: str


@attrs.frozen
class RunUnknown:
    """Neither the service nor the buffer holds a run with this run id."""

    reason: str


CommitOutcome = Outcome | RunBuffered | RunUnknown


async def associate_by_run_id(
    calls: ServiceCalls, run_id: str, commit: CommitDetails, may_be_buffered: Callable[[str], Awaitable[bool]]
) -> CommitOutcome:
    """Associate `commit` with the newest stored run with this run id (see the rules above)."""
    outcome = await _find_and_associate(calls, run_id, commit)
    if isinstance(outcome, RunUnknown) and await may_be_buffered(run_id):
        return RunBuffered(run_id)
    return outcome


async def _find_and_associate(calls: ServiceCalls, run_id: str, commit: CommitDetails) -> Outcome | RunUnknown:
    rows = await calls.find_runs(run_id)
    if not isinstance(rows, list):
        return rows
    if not rows or not isinstance(rows[0], dict) or not isinstance(rows[0].get("event_id"), str):
        return RunUnknown(f"no run with run_id {run_id!r} on the service")
    return await calls.associate_commit(rows[0]["event_id"], commit)


def deliver_commits(api: ServiceApi, sync_pass: SyncPass) -> bool:
    """Deliver the commit entries the pass claimed, one request pair each, and settle each
    one; False when the pass must stop (service unavailable, not authorized, stop)."""
    sync_pass.flush(wait=True)  # acknowledged creates are removed now: no longer "in the buffer"
    buffered = functools.cache(lambda: sync_pass.buffer.pending_run_ids(skip=sync_pass.settled))

    async def may_be_buffered(run_id: str) -> bool:
        return run_id in buffered()

    calls = BlockingCalls(lambda: api)
    for path, entry in sync_pass.commits:
        if sync_pass.stop.is_set():
            return False
        outcome = run_blocking(associate_by_run_id(calls, entry.run_id, entry.commit, may_be_buffered))
        if isinstance(outcome, RunUnknown):  # its create may have arrived since the first ask
            outcome = run_blocking(_find_and_associate(calls, entry.run_id, entry.commit))
        if isinstance(outcome, RunBuffered):
            sync_pass.wait_for_run()
        elif isinstance(outcome, RunUnknown):
            sync_pass.record([path], Verdict("reject", outcome.reason))
        elif not sync_pass.record([path], verdict("commit", answer_of(outcome), has_record=False)):
            return False
    return True
