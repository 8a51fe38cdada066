"""Scenarios of what becomes of a delivery the service does not simply take: a wrong
token, a refusal, a full disk, an update for a run the service never got, commits for runs
the client does not hold. Several mirror a fault test with real processes (named in the
docstring) and check the same observable numbers."""

from __future__ import annotations

from telemetry.effects.records import BufferEntry, CommitEntry
from telemetry.simulation import Advance, Commit, End, SetCondition, Start, simulate
from tests.simulation.helpers import run_three, sim_config

COMMIT = Commit("run", "abcdef1234", "ci")


def test_a_wrong_token_keeps_the_entry_in_the_buffer_for_the_right_one() -> None:
    """Mirrors tests/shell/test_client_service.py::test_the_bearer_token_is_sent_and_a_wrong_one_keeps_records_buffered."""
    result = simulate([SetCondition(service="unauthorized"), Start(label="refused")], sim_config())
    assert [item.entry.record.run_id for item in result.buffer] == [result.run_ids["refused"]]  # type: ignore[union-attr]
    assert result.rejected == ()
    assert result.self_metrics["errors.delivery.unauthorized"] == 1
    assert result.self_metrics["delivery.fallback.unauthorized"] == 1
    assert "breaker.opened" not in result.self_metrics  # the service answered: not an outage


def test_a_refused_record_goes_to_rejected_with_the_reason() -> None:
    """Mirrors tests/shell/test_client_faults.py::test_a_refused_record_goes_to_rejected_with_the_reason."""
    steps = [SetCondition(service="refusing", status=422, reason="agent_name: too odd"), Start(label="run")]
    result = simulate(steps, sim_config())
    [rejected] = result.rejected
    assert isinstance(rejected.entry, BufferEntry)
    assert rejected.entry.operation == "create" and rejected.entry.record.run_id == result.run_ids["run"]
    assert "HTTP 422" in rejected.reason and "too odd" in rejected.reason
    assert result.buffer == ()
    assert [result.self_metrics[name] for name in ("buffer.rejected", "errors.delivery.refused")] == [1, 1]
    assert result.outcomes()[0] == ("PostRun", "refused")


def test_with_the_service_down_and_the_disk_full_nothing_is_stored_and_each_loss_is_counted() -> None:
    """The simulated counterpart of tests/shell/test_client_faults.py::test_disk_full_never_raises_and_keeps_what_was_written
    (there the disk fills part way; here it is full from the start): the agent gets its run
    ids, every failed buffer write is counted, the NDJSON backup keeps every line."""
    result = simulate([SetCondition(service="down", disk_full=True), *run_three()], sim_config())
    assert result.buffer == () and result.service_rows == ()
    assert [result.run_ids[f"r{n}"] for n in range(3)] == [reply for reply in result.replies if isinstance(reply, str)]
    assert result.self_metrics["errors.AppendBuffer.OSError"] == 6
    assert "buffer.appended" not in result.self_metrics
    assert [p.outcome for p in result.effects if p.outcome != "done"] == ["failed"] * 6
    assert len(result.ndjson) == 9


def test_a_held_run_commit_stored_nowhere_says_so() -> None:
    """Mirrors tests/shell/test_client_commits.py::test_a_held_run_commit_stored_nowhere_is_false_and_says_nothing_was_stored."""
    result = simulate([SetCondition(service="down", disk_full=True), Start(label="run"), COMMIT], sim_config())
    run_id = result.run_ids["run"]
    assert result.replies[-1] == (
        False,
        f"[ERROR] Commit association not available: nothing was stored for run {run_id} "
        "(the service did not answer and the buffer could not be written)",
    )


def test_an_update_the_service_never_got_the_create_of_is_sent_as_a_create() -> None:
    """Mirrors the end of tests/shell/test_client_service.py::test_stats_and_deliveries_through_an_outage:
    a start buffered during an outage, its end sent after it: PATCH 404 -> create."""
    result = simulate(
        [
            SetCondition(service="down"),
            Start("gamma", "job", label="run", fields={"items_discovered": 2}),
            SetCondition(service="up"),
            Advance(0.3),
            Start("delta", "job", label="other"),  # after the cooldown: buffered, its probe closes the breaker
            End("run", fields={"items_succeeded": 2}),
        ],
        sim_config(breaker_cooldown_s=0.3),
    )
    row = result.row("run")
    assert row["status"] == "success" and (row["items_discovered"], row["items_succeeded"]) == (2, 2)
    assert result.self_metrics["delivery.update_sent_as_create"] == 1
    assert [item.entry.operation for item in result.buffer] == ["create", "create"]  # type: ignore[union-attr]
    assert [(r.method, r.answer) for r in result.requests] == [("POST", "refused"), ("GET", "200"), ("PATCH", "404"), ("POST", "201")]


def test_a_commit_for_a_run_nobody_knows_is_run_id_not_found() -> None:
    """Mirrors tests/shell/test_client_commits.py::test_a_buffered_commit_alone_does_not_make_an_unknown_run_look_buffered."""
    result = simulate([Commit("never-started", "abcdef1234", "ci")], sim_config())
    assert result.replies == ((False, "Run ID not found: never-started"),)
    assert [(r.method, r.path) for r in result.requests] == [("GET", "/api/v1/runs")]


def test_a_commit_for_a_run_not_held_is_buffered_by_run_id_while_the_service_is_down() -> None:
    """Mirrors the second half of tests/shell/test_client_faults.py::test_commits_are_buffered_while_the_service_is_down."""
    result = simulate([SetCondition(service="down"), Commit("held-elsewhere", "abcdef1", "ci")], sim_config())
    ok, message = result.replies[-1]  # type: ignore[misc]
    assert ok and "buffered" in message
    [item] = result.buffer
    assert isinstance(item.entry, CommitEntry) and item.entry.run_id == "held-elsewhere"


def test_a_commit_for_a_run_whose_create_is_still_buffered_waits_in_the_buffer() -> None:
    """Mirrors tests/shell/test_client_commits.py::test_a_commit_for_a_run_whose_create_is_still_buffered_waits_in_the_buffer:
    the service answers but does not hold the run; the buffer holds runs (kept there by a
    wrong token, which leaves the breaker closed), so the commit joins them there."""
    result = simulate(
        [
            SetCondition(service="unauthorized"),
            Start(label="run"),
            End("run"),
            SetCondition(service="up"),
            Commit("elsewhere", "abcdef1234", "ci"),
        ],
        sim_config(),
    )
    assert result.replies[-1] == (
        True, "Commit abcdef1234 buffered for run elsewhere: it will be associated when the service can be reached"
    )  # fmt: skip
    assert [type(item.entry).__name__ for item in result.buffer] == ["BufferEntry", "BufferEntry", "CommitEntry"]
    assert [(r.method, r.answer) for r in result.requests] == [("POST", "401"), ("PATCH", "401"), ("GET", "200")]


def test_a_commit_for_an_ended_run_rides_on_its_record_and_is_stored() -> None:
    result = simulate([Start(label="run"), End("run"), Commit("run", "ABCDEF1", "manual")], sim_config())
    row = result.row("run")
    assert (row["git_commit_hash"], row["git_commit_source"], row["status"]) == ("abcdef1", "manual", "success")
    assert result.replies[-1] == (True, f"Commit abcdef1 associated with run {result.run_ids['run']}")
