"""How the courier ships a batch: one `POST /api/v1/runs/batch-update` carrying the segment's
columns once and the entries' payloads as they are in the segment (no parse, no
re-encode), and what each item's answer means for its entry (`verdicts`):

- `created`, `updated`, `duplicate` (a create the service held already) -> settled;
- `not_found` (an update of a run the service does not hold: its create went elsewhere or
  was refused) -> the create of the entry's full record; if that create finds the run
  after all, the update is sent again so its fields are not lost;
- `error` (the service refuses the item) -> rejected, with the service's reason.
A request the service cannot take now (down, 5xx, 408/429, wrong token, no such endpoint)
settles nothing: the whole batch is shipped again later. One refused as a whole (413, a
4xx) is shipped in halves, down to single entries, so one bad entry costs only itself."""

from __future__ import annotations

import attrs
import httpx
import orjson

from telemetry.shell.outbox.entries import EntryFormatError, as_create
from telemetry.shell.service_api import BatchResult, Outcome, Refused, ServiceApi, Unavailable, classify

_NOT_NOW = frozenset({401, 403, 405})


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


def ship(api: ServiceApi, columns: bytes, payloads: list[bytes]) -> Shipped | Outcome:
    """Ship `payloads` and settle every one of them, or return the outcome that says the
    batch must wait (nothing settled)."""
    answer = post_mixed(api, columns, payloads)
    if isinstance(answer, Refused) and answer.status_code not in _NOT_NOW:
        if len(payloads) == 1:
            return Shipped(rejected=((payloads[0], answer.reason),))
        half = len(payloads) // 2
        first = ship(api, columns, payloads[:half])
        if not isinstance(first, Shipped):
            return first
        second = ship(api, columns, payloads[half:])
        return first + second if isinstance(second, Shipped) else second
    if not isinstance(answer, BatchResult):
        return answer
    return verdicts(api, columns, payloads, answer)


def verdicts(api: ServiceApi, columns: bytes, payloads: list[bytes], answer: BatchResult) -> Shipped | Outcome:
    """Settle each item by its status (see the module)."""
    delivered = duplicates = 0
    rejected: list[tuple[bytes, str]] = []
    unknown: list[bytes] = []
    for payload, status, reason in zip(payloads, answer.statuses, answer.reasons):
        if status in ("created", "updated"):
            delivered += 1
        elif status == "duplicate":
            duplicates += 1
        elif status == "not_found":
            unknown.append(payload)
        else:
            rejected.append((payload, reason or f"refused by the service ({status})"))
    shipped = Shipped(delivered, duplicates, tuple(rejected))
    if not unknown:
        return shipped
    created = _create_unknown(api, columns, unknown)
    return shipped + created if isinstance(created, Shipped) else created


def _create_unknown(api: ServiceApi, columns: bytes, unknown: list[bytes]) -> Shipped | Outcome:
    """Updates of runs the service does not hold: the create of each one's full record;
    those the create finds stored after all are updated again."""
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
    again: list[bytes] = []
    if isinstance(answer, Shipped):
        if answer.duplicates == 0:
            return shipped + Shipped(delivered=answer.delivered)
        # Which creates found their run stored is not said: every update goes again.
        answer = BatchResult(("duplicate",) * len(pairs), (None,) * len(pairs))
    if not isinstance(answer, BatchResult):
        return answer
    for (payload, _), status, reason in zip(pairs, answer.statuses, answer.reasons):
        if status == "created":
            shipped += Shipped(delivered=1)
        elif status == "duplicate":
            again.append(payload)
        else:
            shipped += Shipped(rejected=((payload, reason or "the service refused the run's record"),))
    if not again:
        return shipped
    retried = post_mixed(api, columns, again)
    if isinstance(retried, Shipped):
        return shipped + Shipped(delivered=retried.delivered)
    if not isinstance(retried, BatchResult):
        return retried
    for payload, status, reason in zip(again, retried.statuses, retried.reasons):
        if status == "updated":
            shipped += Shipped(delivered=1)
        else:
            shipped += Shipped(rejected=((payload, reason or f"the update could not be applied ({status})"),))
    return shipped
