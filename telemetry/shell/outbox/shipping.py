"""How the courier ships a batch: one `POST /api/v1/runs/batch-update` carrying the entries'
payloads as they are in the segment (no parse, no re-encode), and what each item's answer
means for its entry (`verdicts`):

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

from telemetry.shell.service_api import BatchResult, Outcome, Refused, ServiceApi, Unavailable, classify
from telemetry.shell.wire import WireEntry, WireFormatError, parse_buffer_wire

MIXED_PATH = "/api/v1/runs/batch-update"
_NOT_NOW = frozenset({401, 403, 405})


@attrs.frozen
class Shipped:
    """What became of a shipped batch: counts, and the entries refused with the reason."""

    delivered: int = 0
    duplicates: int = 0
    rejected: tuple[tuple[bytes, str], ...] = ()

    def __add__(self, other: Shipped) -> Shipped:
        return Shipped(self.delivered + other.delivered, self.duplicates + other.duplicates, self.rejected + other.rejected)


def post_mixed(api: ServiceApi, payloads: list[bytes]) -> BatchResult | Outcome:
    """One mixed batch request; per-item statuses, or the outcome of the request."""
    content = orjson.Fragment(b"[" + b",".join(payloads) + b"]")
    response = api._send("POST", api._url(MIXED_PATH), content)
    return response if isinstance(response, Unavailable) else _batch_result(response)


def _batch_result(response: httpx.Response) -> BatchResult | Outcome:
    if response.status_code != 200:
        return classify(response)
    try:
        results = orjson.loads(response.content)["results"]
        return BatchResult(tuple(item["status"] for item in results), tuple(item.get("reason") for item in results))
    except (orjson.JSONDecodeError, KeyError, TypeError) as error:
        return Unavailable(f"unreadable batch reply: {error}")


def ship(api: ServiceApi, payloads: list[bytes]) -> Shipped | Outcome:
    """Ship `payloads` and settle every one of them, or return the outcome that says the
    batch must wait (nothing settled)."""
    answer = post_mixed(api, payloads)
    if isinstance(answer, Refused) and answer.status_code not in _NOT_NOW:
        if len(payloads) == 1:
            return Shipped(rejected=((payloads[0], answer.reason),))
        half = len(payloads) // 2
        first = ship(api, payloads[:half])
        if not isinstance(first, Shipped):
            return first
        second = ship(api, payloads[half:])
        return first + second if isinstance(second, Shipped) else second
    if not isinstance(answer, BatchResult):
        return answer
    return verdicts(api, payloads, answer)


def verdicts(api: ServiceApi, payloads: list[bytes], answer: BatchResult) -> Shipped | Outcome:
    """Settle each item by its status (see the module)."""
    delivered = duplicates = 0
    rejected: list[tuple[bytes, str]] = []
    unknown: list[tuple[bytes, WireEntry]] = []
    for payload, status, reason in zip(payloads, answer.statuses, answer.reasons):
        if status in ("created", "updated"):
            delivered += 1
        elif status == "duplicate":
            duplicates += 1
        elif status == "not_found":
            try:
                entry = parse_buffer_wire(payload)
            except WireFormatError as error:
                rejected.append((payload, f"unreadable entry: {error}"))
                continue
            if isinstance(entry, WireEntry):
                unknown.append((payload, entry))
        else:
            rejected.append((payload, reason or f"refused by the service ({status})"))
    shipped = Shipped(delivered, duplicates, tuple(rejected))
    if not unknown:
        return shipped
    created = _create_unknown(api, unknown)
    return shipped + created if isinstance(created, Shipped) else created


def _create_unknown(api: ServiceApi, unknown: list[tuple[bytes, WireEntry]]) -> Shipped | Outcome:
    """Updates of runs the service does not hold: the create of each one's full record;
    those the create finds stored after all are updated again."""
    answer = api.create_batch_wire([entry.body for _, entry in unknown])
    if not isinstance(answer, BatchResult):
        return answer
    delivered = 0
    rejected: list[tuple[bytes, str]] = []
    again: list[bytes] = []
    for (payload, _), status, reason in zip(unknown, answer.statuses, answer.reasons):
        if status == "created":
            delivered += 1
        elif status == "duplicate":
            again.append(payload)
        else:
            rejected.append((payload, reason or "the service refused the run's record"))
    shipped = Shipped(delivered, rejected=tuple(rejected))
    if not again:
        return shipped
    retried = post_mixed(api, again)
    if not isinstance(retried, BatchResult):
        return retried
    for payload, status, reason in zip(again, retried.statuses, retried.reasons):
        if status == "updated":
            shipped += Shipped(delivered=1)
        else:
            shipped += Shipped(rejected=((payload, reason or f"the update could not be applied ({status})"),))
    return shipped
