"""The delivery rules of `telemetry.core.verdicts`, one property per rule: the client's
delivery and sync both follow these verdicts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from telemetry.core.verdicts import UNAUTHORIZED_STATUSES, Answer, refusal, verdict

operations = st.sampled_from(("create", "update", "commit"))
reasons = st.text(max_size=40)
refusal_statuses = st.integers(400, 499).filter(lambda status: status not in (401, 403, 404, 408, 429))


@given(operations, st.booleans())
def test_a_stored_answer_is_acknowledged(operation: str, after_create: bool) -> None:
    assert verdict(operation, Answer("delivered"), after_create=after_create).kind == "acknowledge"  # type: ignore[arg-type]


def test_a_create_the_service_held_already_is_acknowledged_as_a_duplicate() -> None:
    decided = verdict("create", Answer("duplicate"))
    assert decided.kind == "acknowledge" and decided.duplicate


@given(st.sampled_from(("update", "commit")), reasons)
def test_an_update_or_commit_answered_404_creates_the_full_record_instead(operation: str, reason: str) -> None:
    assert verdict(operation, Answer("not_found", 404, reason)).kind == "create_instead"  # type: ignore[arg-type]


@given(st.sampled_from(("update", "commit")))
def test_a_create_sent_instead_that_finds_the_run_sends_the_update_again(operation: str) -> None:
    assert verdict(operation, Answer("duplicate"), after_create=True).kind == "send_again"  # type: ignore[arg-type]


@given(operations, reasons)
def test_a_404_no_create_can_answer_keeps_the_entry(operation: str, reason: str) -> None:
    """A create answered 404, or the create sent instead: not a telemetry service here."""
    after_create = operation != "create"
    decided = verdict(operation, Answer("not_found", 404, reason), after_create=after_create)  # type: ignore[arg-type]
    assert (decided.kind, decided.kept) == ("keep", "no_service")


@given(operations, st.sampled_from(sorted(UNAUTHORIZED_STATUSES)), reasons, st.booleans())
def test_401_and_403_are_not_the_records_fault_so_it_is_kept(operation: str, status: int, reason: str, after: bool) -> None:
    decided = verdict(operation, refusal(status, reason), after_create=after)  # type: ignore[arg-type]
    assert (decided.kind, decided.kept, decided.reason) == ("keep", "unauthorized", reason)


@given(operations, reasons, st.booleans())
def test_unavailable_keeps_the_entry(operation: str, reason: str, after: bool) -> None:
    decided = verdict(operation, Answer("unavailable", 0, reason), after_create=after)  # type: ignore[arg-type]
    assert (decided.kind, decided.kept) == ("keep", "unavailable")


@given(operations, refusal_statuses, reasons, st.booleans())
def test_any_other_refusal_rejects_the_entry_with_the_services_reason(
    operation: str, status: int, reason: str, after: bool
) -> None:
    decided = verdict(operation, refusal(status, reason), after_create=after)  # type: ignore[arg-type]
    assert (decided.kind, decided.reason) == ("reject", reason)


@given(operations, st.sampled_from(("delivered", "duplicate", "not_found", "refused", "unauthorized", "unavailable")), st.booleans())
def test_only_a_keep_carries_a_keep_reason(operation: str, kind: str, after: bool) -> None:
    decided = verdict(operation, Answer(kind, 400, "r"), after_create=after)  # type: ignore[arg-type]
    assert (decided.kind == "keep") == (decided.kept != "")


@given(st.sampled_from(("update", "commit")), reasons)
def test_a_404_without_a_record_to_create_keeps_the_entry(operation: str, reason: str) -> None:
    """A commit known only by run id has no record to create from."""
    decided = verdict(operation, Answer("not_found", 404, reason), has_record=False)  # type: ignore[arg-type]
    assert (decided.kind, decided.kept) == ("keep", "no_service")
