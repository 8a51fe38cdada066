"""One delivery to the service, for the client's delivery and sync alike: send, read the
answer as the core's `Answer`, and follow the verdict of `telemetry.core.verdicts` (create
the full record instead of an update or commit the service does not know yet, then send
the update again if that create found the run there after all). A coroutine, for every
runtime: threaded callers run it with `telemetry.shell.ports.run_blocking`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telemetry.core.verdicts import Answer, Operation, Verdict, refusal, verdict
from telemetry.shell.service_api import Delivered, NotFound, Outcome, Refused, Unavailable

Send = Callable[[], Awaitable[Outcome]]


def answer_of(outcome: Outcome) -> Answer:
    """The service's answer in the core's terms."""
    match outcome:
        case Delivered(status="duplicate"):
            return Answer("duplicate")
        case Delivered():
            return Answer("delivered")
        case NotFound(reason=reason):
            return Answer("not_found", 404, reason)
        case Refused(status_code=status, reason=reason):
            return refusal(status, reason)
        case Unavailable(reason=reason):
            return Answer("unavailable", 0, reason)


async def deliver(
    operation: Operation, send: Send, create: Send | None = None, created_instead: Callable[[], None] | None = None
) -> tuple[Outcome, Verdict]:
    """Send with `send`; on `create_instead`, send `create` (the full record; announced to
    `created_instead`), and on `send_again` send once more. The last outcome and the
    verdict on the entry."""
    outcome = await send()
    decided = verdict(operation, answer_of(outcome), has_record=create is not None)
    if decided.kind != "create_instead" or create is None:
        return outcome, decided
    if created_instead is not None:
        created_instead()
    outcome = await create()
    decided = verdict(operation, answer_of(outcome), after_create=True)
    if decided.kind == "send_again":
        outcome = await send()
        decided = verdict(operation, answer_of(outcome), after_create=True)
    return outcome, decided
