"""What a service's answer to one delivery means for the entry sent, for the client's
delivery and for sync alike: one pure function, each rule stated once.

Rules:
- Stored (created, updated, associated) -> acknowledge; a create the service already held
  -> acknowledge, as a duplicate.
- An update or a commit answered 404: the run's create has not arrived -> create the full
  record instead; if that create finds the run there after all (another writer created it
  meanwhile, maybe from an older state) -> send the update again, or it would be lost.
- 401/403 is not the record's fault (a wrong token) -> keep it, for a later try with the
  right token; a sync pass stops.
- Unavailable (connection error, timeout, 408, 429, 5xx), or a 404 that no create can
  answer (not a telemetry service at this URL) -> keep it; a sync pass stops.
- Any other refusal (4xx) -> reject it, with the service's reason: it will never be taken."""

from __future__ import annotations

from typing import Literal

import attrs

Operation = Literal["create", "update", "commit"]
AnswerKind = Literal["delivered", "duplicate", "not_found", "refused", "unauthorized", "unavailable"]
VerdictKind = Literal["acknowledge", "keep", "reject", "create_instead", "send_again"]
KeepReason = Literal["", "unavailable", "unauthorized", "no_service"]
UNAUTHORIZED_STATUSES = frozenset({401, 403})


@attrs.frozen
class Answer:
    """The service's answer, in the terms the rules need (`status` and `reason` of a refusal)."""

    kind: AnswerKind
    status: int = 0
    reason: str = ""


@attrs.frozen
class Verdict:
    """What to do with the entry. `duplicate` marks an acknowledged create the service
    already held; `kept` says why an entry is kept (a sync pass stops on every keep)."""

    kind: VerdictKind
    reason: str = ""
    duplicate: bool = False
    kept: KeepReason = ""


def refusal(status: int, reason: str) -> Answer:
    """The answer of a 4xx other than 404/408/429: `unauthorized` for 401/403."""
    return Answer("unauthorized" if status in UNAUTHORIZED_STATUSES else "refused", status, reason)


def verdict(operation: Operation, answer: Answer, *, after_create: bool = False, has_record: bool = True) -> Verdict:
    """The verdict on an entry of `operation` given the service's `answer`; `after_create`
    when the answer is to the create sent instead of an update or a commit (or to the
    update sent again after it); `has_record` False for a commit known only by run id,
    which has no record to create."""
    match answer.kind:
        case "delivered":
            return Verdict("acknowledge")
        case "duplicate":
            if after_create and operation != "create":
                return Verdict("send_again")
            return Verdict("acknowledge", duplicate=operation == "create")
        case "not_found":
            if operation != "create" and has_record and not after_create:
                return Verdict("create_instead")
            return Verdict("keep", answer.reason, kept="no_service")
        case "unauthorized":
            return Verdict("keep", answer.reason, kept="unauthorized")
        case "unavailable":
            return Verdict("keep", answer.reason, kept="unavailable")
        case "refused":
            return Verdict("reject", answer.reason)
