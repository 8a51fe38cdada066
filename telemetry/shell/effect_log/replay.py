"""Replay of effect logs: read the lines of one or more logs in the order given, and re-send
their delivery effects to a service with the shell's own delivery rules
(`telemetry.shell.sending`, `telemetry.shell.sync.commits`), whatever their recorded outcome.

Rules:
- Delivery effects are `PostRun` (a create), `PatchRun` (an update; a create of the full
  record when the service does not know the run), `PostCommit` and `FindRunAndPostCommit`
  (a commit association); every other effect is skipped, and counted.
- Replaying is idempotent: a create the service holds already is a duplicate (event ids),
  an update or a commit sets what it set before.
- A line that cannot be read is counted and reported; the lines after it still replay.
- The first effect the service cannot take now (unreachable, 5xx, 401/403) stops the
  replay: sending the later effects before it would change their order."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal, Union

import attrs

from telemetry.core.verdicts import Verdict, verdict
from telemetry.effects.vocabulary import FindRunAndPostCommit, PatchRun, PostCommit, PostRun
from telemetry.shell.effect_log.lines import LoggedEffect, UnreadableLine, decode_line
from telemetry.shell.blocking_port import BlockingCalls
from telemetry.shell.ports import run_blocking
from telemetry.shell.sending import answer_of, deliver
from telemetry.shell.service_api import ServiceApi
from telemetry.shell.sync.commits import RunBuffered, RunUnknown, associate_by_run_id

DeliveryEffect = Union[PostRun, PatchRun, PostCommit, FindRunAndPostCommit]
DELIVERY_EFFECTS = (PostRun, PatchRun, PostCommit, FindRunAndPostCommit)
Result = Literal["sent", "duplicate", "refused", "unavailable"]


@attrs.frozen
class LogLine:
    """One line of a log, where it is (`file:line`), and what it holds."""

    where: str
    logged: LoggedEffect | UnreadableLine


@attrs.frozen
class ReplayReport:
    """What a replay did; `stopped` says where and why it stopped early ("" if it did not)."""

    sent: int = 0
    duplicates: int = 0
    refused: int = 0
    unavailable: int = 0
    skipped: int = 0
    unreadable: tuple[str, ...] = ()
    refusals: tuple[str, ...] = ()
    stopped: str = ""

    @property
    def complete(self) -> bool:
        """Every line was read and every delivery effect the service took."""
        return not (self.unreadable or self.refused or self.stopped)


def count_lines(paths: Sequence[Path]) -> int:
    """How many lines the logs hold (the progress bar's total)."""
    total = 0
    for path in paths:
        with path.open("rb") as file:
            total += sum(1 for line in file if line.strip())
    return total


def log_lines(paths: Sequence[Path]) -> Iterator[LogLine]:
    """Every non-blank line of the logs, in the order given, decoded (or why it cannot be)."""
    for path in paths:
        with path.open("rb") as file:
            for number, raw in enumerate(file, start=1):
                if not raw.strip():
                    continue
                try:
                    logged: LoggedEffect | UnreadableLine = decode_line(raw.decode("utf-8"))
                except UnicodeDecodeError as error:
                    logged = UnreadableLine(f"not UTF-8: {error}")
                except UnreadableLine as error:
                    logged = error
                yield LogLine(f"{path}:{number}", logged)


def describe(effect: DeliveryEffect) -> str:
    """What re-sending `effect` does, in one line (for `--dry-run`)."""
    match effect:
        case PostRun(record=record):
            return f"create run {record.run_id} (event {record.event_id})"
        case PatchRun(record=record, fields=fields):
            return f"update run {record.run_id} (event {record.event_id}): {', '.join(fields)}"
        case PostCommit(record=record, commit=commit):
            return f"associate commit {commit.commit_hash} with run {record.run_id} (event {record.event_id})"
        case FindRunAndPostCommit(run_id=run_id, commit=commit):
            return f"associate commit {commit.commit_hash} with the newest run {run_id}"


def send(api: ServiceApi, effect: DeliveryEffect) -> tuple[Result, str]:
    """Re-send one delivery effect with the shell's delivery rules; the result and, for a
    refused or unavailable one, the service's reason."""
    _, decided = run_blocking(_delivered(BlockingCalls(lambda: api), effect))
    if decided.kept == "unauthorized":
        return "unavailable", f"not authorized, check --token: {decided.reason}"
    return _result(decided), decided.reason


async def _delivered(calls: BlockingCalls, effect: DeliveryEffect) -> tuple[object, Verdict]:
    match effect:
        case PostRun(record=record):
            return await deliver("create", lambda: calls.create(record))
        case PatchRun(record=record, fields=fields):
            return await deliver("update", lambda: calls.patch(record, fields), lambda: calls.create(record))
        case PostCommit(record=record, commit=commit):
            send_commit = lambda: calls.associate_commit(record.event_id, commit)  # noqa: E731
            return await deliver("commit", send_commit, lambda: calls.create(record))
        case FindRunAndPostCommit(run_id=run_id, commit=commit):
            outcome = await associate_by_run_id(calls, run_id, commit, _nothing_buffered)
            if isinstance(outcome, (RunUnknown, RunBuffered)):
                return outcome, Verdict("reject", f"no run with run_id {run_id!r} on the service")
            return outcome, verdict("commit", answer_of(outcome), has_record=False)


async def _nothing_buffered(run_id: str) -> bool:
    """A replay has no buffer: a run the service does not hold is not waiting anywhere."""
    return False


def _result(decided: Verdict) -> Result:
    if decided.kind == "acknowledge":
        return "duplicate" if decided.duplicate else "sent"
    return "refused" if decided.kind == "reject" else "unavailable"


def replay(
    lines: Iterator[LogLine], send_one: Callable[[DeliveryEffect], tuple[Result, str]], advanced: Callable[[], None]
) -> ReplayReport:
    """Send the delivery effects of `lines` in order with `send_one` (see the rules above);
    `advanced` is called once per line."""
    counts = {"sent": 0, "duplicate": 0, "refused": 0, "unavailable": 0, "skipped": 0}
    unreadable: list[str] = []
    refusals: list[str] = []
    stopped = ""
    for line in lines:
        advanced()
        if isinstance(line.logged, UnreadableLine):
            unreadable.append(f"{line.where}: {line.logged}")
            continue
        effect = line.logged.effect
        if not isinstance(effect, DELIVERY_EFFECTS):
            counts["skipped"] += 1
            continue
        result, reason = send_one(effect)
        counts[result] += 1
        if result == "refused":
            refusals.append(f"{line.where}: {reason}")
        elif result == "unavailable":
            stopped = f"stopped at {line.where}, the lines after it not sent: the service cannot take it now ({reason})"
            break
    return ReplayReport(
        counts["sent"], counts["duplicate"], counts["refused"], counts["unavailable"], counts["skipped"],
        tuple(unreadable), tuple(refusals), stopped,
    )  # fmt: skip
