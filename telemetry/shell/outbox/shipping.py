"""How the courier ships a batch: one `POST /api/v1/runs/batch-update` carrying the segment's
columns once and the entries' payloads as they are in the segment (no parse, no
re-encode). What each answer means for an entry is the shared verdict function's
(`telemetry.core.verdicts`, as for the client's synchronous delivery and for sync):

- `created`, `updated`, `duplicate` (a create the service held already) -> acknowledged;
- `not_found` (an update of a run the service does not hold: its create went elsewhere or
  was refused) -> the create of the entry's full record instead; if that create finds the
  run after all, the update is sent again so its fields are not lost;
- `error` (the service refuses the item) -> rejected, with the service's reason.
A request the service cannot take now (down, 5xx, 408/429, wrong token, not a telemetry
service) is a keep: nothing is settled and the whole batch is shipped again later. One
refused as a whole (413, another 4xx) is shipped in halves, down to single entries, so one
bad entry costs only itself."""

from __future__ import annotations

import attrs
import httpx
import orjson

from telemetry.core.verdicts import Answer, Operation, Verdict, verdict
from telemetry.shell.outbox.entries import EntryFormatError, as_create
from telemetry.shell.sending import answer_of
from telemetry.shell.service_api import BatchResult, Outcome, Refused, ServiceApi, Unavailable, classify

# An item's status in the batch endpoint's reply, as the verdict function's answer.
_ANSWERS = {
    "created": Answer("delivered"),
    "updated": Answer("delivered"),
    "duplicate": Answer("duplicate"),
    "not_found": Answer("not_found", 404, "the service does not hold this run"),
}


@attrs.frozen
class Shipped:
    """What became of a shipped batch: counts, and the entries refused with the reason."""

    delivered: int = 0
    duplicates: int = 0
    rejected: tuple[tuple[bytes, str], ...] = ()

    def __add__(self, other: Shipped) -> Shipped:
        return Shipped(self.delivered + other.delivered, self.duplicates + other.duplicates, self.rejected + other.rejected)


def post_mixed(api: ServiceApi, columns: bytes, payloads: list[bytes]) -> BatchResult | Shipped | Outcome:
    """One mixed batch request: per-item statuses (or, all taken, the counts), or the
    outcome of the request."""
    content = orjson.Fragment(b'{"columns":' + columns + b',"items":[' + b",".join(payloads) + b"]}")
    response = api.batch_update_wire(content)
    if isinstance(response, Unavailable):
        return response
    answer = _batch_result(response)
    taken = len(answer.statuses) if isinstance(answer, BatchResult) else None
    if isinstance(answer, Shipped):
        taken = answer.delivered + answer.duplicates
    if taken is not None and taken != len(payloads):
        return Unavailable(f"the batch reply accounts for {taken} of {len(payloads)} entries")
    return answer


def _batch_result(response: httpx.Response) -> BatchResult | Shipped | Outcome:
    """Per-item statuses; or, when the counts say every item was taken, just the counts
    (the usual answer, settled without a loop over its items)."""
    if response.status_code != 200:
        return classify(response)
    try:
        reply = orjson.loads(response.content)
        if reply["error"] == 0 and reply["not_found"] == 0:
            return Shipped(reply["created"] + reply["updated"], reply["duplicate"])
        results = reply["results"]
        return BatchResult(tuple(item["status"] for item in results), tuple(item.get("reason") for item in results))
    except (orjson.JSONDecodeError, KeyError, TypeError) as error:
        return Unavailable(f"unreadable batch reply: {error}")


def _no_endpoint(outcome: Outcome) -> bool:
    """A service older than the batch endpoint answers 405 there: not the entries' fault."""
    return isinstance(outcome, Refused) and outcome.status_code == 405


def _operation(payload: bytes) -> Operation:
    return "create" if payload.startswith(b'["create"') else "update"


def _item_verdict(payload: bytes, status: str, reason: str | None, after_create: bool = False) -> Verdict:
    answer = _ANSWERS.get(status) or Answer("refused", 422, reason or f"refused by the service ({status})")
    return verdict(_operation(payload), answer, after_create=after_create)


def ship(api: ServiceApi, columns: bytes, payloads: list[bytes]) -> Shipped | Outcome:
    """Ship `payloads` and settle every one of them, or return the outcome that says the
    batch must wait (nothing settled)."""
    answer = post_mixed(api, columns, payloads)
    if isinstance(answer, (BatchResult, Shipped)):
        return answer if isinstance(answer, Shipped) else _settle(api, columns, payloads, answer)
    if verdict("update", answer_of(answer)).kind != "reject" or _no_endpoint(answer):
        return answer  # a keep: the whole batch waits
    if len(payloads) == 1:
        return Shipped(rejected=((payloads[0], answer_of(answer).reason),))
    half = len(payloads) // 2
    first = ship(api, columns, payloads[:half])
    if not isinstance(first, Shipped):
        return first
    second = ship(api, columns, payloads[half:])
    return first + second if isinstance(second, Shipped) else second


def _settle(api: ServiceApi, columns: bytes, payloads: list[bytes], answer: BatchResult) -> Shipped | Outcome:
    """Settle each item by its verdict; the updates of runs the service does not hold
    become creates of their full records (`_create_instead`)."""
    delivered = duplicates = 0
    rejected: list[tuple[bytes, str]] = []
    unknown: list[bytes] = []
    for payload, status, reason in zip(payloads, answer.statuses, answer.reasons):
        decided = _item_verdict(payload, status, reason)
        if decided.kind == "acknowledge":
            duplicates += decided.duplicate
            delivered += not decided.duplicate
        elif decided.kind == "create_instead":
            unknown.append(payload)
        elif decided.kind == "reject":
            rejected.append((payload, decided.reason))
        else:
            return Unavailable(decided.reason or "the service could not take an entry now")
    shipped = Shipped(delivered, duplicates, tuple(rejected))
    if not unknown:
        return shipped
    created = _create_instead(api, columns, unknown)
    return shipped + created if isinstance(created, Shipped) else created


def _create_instead(api: ServiceApi, columns: bytes, unknown: list[bytes]) -> Shipped | Outcome:
    """The create of each entry's full record; the updates whose create found the run
    stored after all are sent again (`send_again`)."""
    pairs: list[tuple[bytes, bytes]] = []  # (the entry, the create of its record)
    shipped = Shipped()
    for payload in unknown:
        try:
            pairs.append((payload, as_create(payload)))
        except EntryFormatError as error:
            shipped += Shipped(rejected=((payload, str(error)),))
    if not pairs:
        return shipped
    answer = post_mixed(api, columns, [create for _, create in pairs])
    if isinstance(answer, Shipped):
        if answer.duplicates == 0:
            return shipped + Shipped(delivered=answer.delivered)
        # Which creates found their run stored is not said: every update goes again.
        answer = BatchResult(("duplicate",) * len(pairs), (None,) * len(pairs))
    if not isinstance(answer, BatchResult):
        return answer
    again: list[bytes] = []
    for (payload, _), status, reason in zip(pairs, answer.statuses, answer.reasons):
        decided = _item_verdict(payload, status, reason, after_create=True)
        if decided.kind == "send_again":
            again.append(payload)
        elif decided.kind in ("acknowledge", "reject"):
            shipped += Shipped(1, 0) if decided.kind == "acknowledge" else Shipped(rejected=((payload, decided.reason),))
        else:
            return Unavailable(decided.reason)
    if not again:
        return shipped
    retried = post_mixed(api, columns, again)
    if isinstance(retried, Shipped):
        return shipped + Shipped(delivered=retried.delivered)
    if not isinstance(retried, BatchResult):
        return retried
    for payload, status, reason in zip(again, retried.statuses, retried.reasons):
        decided = _item_verdict(payload, status, reason, after_create=True)
        if decided.kind == "acknowledge":
            shipped += Shipped(delivered=1)
        elif decided.kind == "reject":
            shipped += Shipped(rejected=((payload, decided.reason),))
        else:
            return Unavailable(decided.reason or "the update sent again could not be applied")
    return shipped
