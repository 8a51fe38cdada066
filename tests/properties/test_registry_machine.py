"""A hypothesis state machine driving `decide` with random command sequences (valid, refused,
duplicate and unknown run ids, interleaved runs), checked against a tiny model: the active
run ids, the recently ended ids and the six run-id counters."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from telemetry.core import (
    AssociateCommit,
    CoreSettings,
    EndRun,
    Heartbeat,
    LogEvent,
    RegistryState,
    SetMetrics,
    StartRun,
    ValidateCustomRunId,
    decide,
)
from telemetry.effects import (
    AppendBuffer,
    AppendNdjson,
    BufferEntry,
    FindRunAndPostCommit,
    IncrementMetric,
    Log,
    PatchRun,
    PostCommit,
)

from .strategies import (
    MAX_RUN_ID,
    SOURCES,
    bad_hashes,
    expected_rejection,
    good_hashes,
    set_metrics,
    statuses,
)

CAPACITY = 3
AGENTS = ("alpha", "beta", " ")
TIMES = tuple(datetime(2024, 5, 1, 12, 0, second, tzinfo=timezone.utc) for second in (0, 0, 1))
# First nonce halves come from a tiny pool so generated ids collide; second halves are
# fresh (the `f` prefix keeps them apart from the pool), as real randomness would be.
FIRST_HALVES = ("0000000a", "0000000b")
CUSTOM_IDS = ("job-1", "job-2", "y" * MAX_RUN_ID, "", "  ", "a/b", "a\\b", "nul\x00", "x" * (MAX_RUN_ID + 1))
COUNTERS = (
    "custom_accepted",
    "generated",
    "rejected_empty",
    "rejected_too_long",
    "rejected_invalid_chars",
    "duplicates_detected",
)


class RegistryMachine(RuleBasedStateMachine):
    """The core and the model side by side; every rule predicts the core's answer."""

    def __init__(self) -> None:
        super().__init__()
        self.state = RegistryState(settings=CoreSettings(recent_capacity=CAPACITY))
        self.active: set[str] = set()
        self.ended: list[str] = []
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.fresh = 0

    def _count(self, name: str) -> None:
        self.counters[name] += 1

    def _target(self, data: st.DataObject) -> str:
        """An active, ended or never-seen run id."""
        return data.draw(st.sampled_from(sorted(self.active | set(self.ended)) + ["ghost"]))

    def _expected_run_id(self, command: StartRun) -> str:
        custom = command.custom_run_id
        if custom is not None:
            reason = expected_rejection(custom)
            if reason is None:
                self._count("custom_accepted")
                if custom not in self.active:
                    return custom
                self._count("duplicates_detected")
                suffix = f"-duplicate-{command.nonce[8:16]}"
                return custom[: MAX_RUN_ID - len(suffix)] + suffix
            self._count(f"rejected_{reason}")
        self._count("generated")
        prefix = f"{command.at:%Y%m%dT%H%M%SZ}-{command.agent_name.strip() or 'unknown'}-"
        if prefix + command.nonce[:8] not in self.active:
            return prefix + command.nonce[:8]
        self._count("duplicates_detected")
        return prefix + command.nonce[8:16]

    @rule(
        data=st.data(),
        agent=st.sampled_from(AGENTS),
        at=st.sampled_from(TIMES),
        first_half=st.sampled_from(FIRST_HALVES),
        custom=st.none() | st.sampled_from(CUSTOM_IDS) | st.just("active"),
    )
    def start(
        self, data: st.DataObject, agent: str, at: datetime, first_half: str, custom: str | None
    ) -> None:
        self.fresh += 1
        if custom == "active":
            custom = self._target(data)
        command = StartRun(
            agent, "job", at, f"event-{self.fresh}", f"{first_half}f{self.fresh:07x}", custom_run_id=custom
        )
        expected = self._expected_run_id(command)
        decision = decide(self.state, command)
        assert decision.reply == expected
        assert decision.reply in decision.state.active
        assert len(decision.state.active) == len(self.state.active) + 1
        self.state = decision.state
        self.active.add(expected)

    @rule(data=st.data(), said=statuses)
    def end(self, data: st.DataObject, said: str) -> None:
        run_id = self._target(data)
        decision = decide(self.state, EndRun(run_id, said, TIMES[-1]))
        if run_id in self.active:
            (patch,) = [effect for effect in decision.effects if isinstance(effect, PatchRun)]
            assert patch.record == decision.state.recent.runs[run_id]
            assert patch.record.status != "running"
            assert patch.fallback == AppendBuffer(BufferEntry("update", patch.record, patch.fields))
            self.active.remove(run_id)
            self.ended.append(run_id)
        else:
            assert decision.effects == (
                Log("warning", f"[WARN] Run ID not found: {run_id}"),
                IncrementMetric("end_run.unknown_run"),
            )
        self.state = decision.state

    @rule(data=st.data())
    def log_event(self, data: st.DataObject) -> None:
        run_id = self._target(data)
        decision = decide(self.state, LogEvent(run_id, "checkpoint", TIMES[0], {"step": 1}))
        known = run_id in self.active or run_id in self.ended[-CAPACITY:]
        assert len(decision.effects) == (1 if known else 3)
        assert decision.state == self.state

    @rule(data=st.data())
    def change_metrics(self, data: st.DataObject) -> None:
        command = data.draw(set_metrics(st.just(self._target(data))))
        decision = decide(self.state, command)
        assert all(isinstance(effect, (Log, IncrementMetric)) for effect in decision.effects)
        self.state = decision.state

    @rule(
        data=st.data(),
        commit_hash=good_hashes | bad_hashes(),
        source=st.sampled_from(SOURCES) | st.just("bot"),
    )
    def associate_commit(self, data: st.DataObject, commit_hash: str, source: str) -> None:
        run_id = self._target(data)
        decision = decide(self.state, AssociateCommit(run_id, commit_hash, source, TIMES[0]))
        valid = (
            7 <= len(commit_hash) <= 40
            and all(c in "0123456789abcdefABCDEF" for c in commit_hash)
            and source != "bot"
        )
        held = run_id in self.active or run_id in self.ended[-CAPACITY:]
        kinds = [type(effect) for effect in decision.effects]
        if not valid:
            assert kinds == [] and decision.reply[0] is False
        elif held:
            assert kinds == [PostCommit, AppendNdjson] and decision.reply[0] is True
        else:
            assert kinds == [FindRunAndPostCommit] and decision.reply is None
        self.state = decision.state

    @rule(custom=st.sampled_from(CUSTOM_IDS))
    def validate(self, custom: str) -> None:
        reason = expected_rejection(custom)
        if reason is not None:
            self._count(f"rejected_{reason}")
        decision = decide(self.state, ValidateCustomRunId(custom))
        assert decision.reply == (reason is None, reason)
        self.state = decision.state

    @precondition(lambda machine: bool(machine.active))
    @rule(at=st.sampled_from(TIMES))
    def heartbeat(self, at: datetime) -> None:
        decision = decide(self.state, Heartbeat(at))
        assert {
            effect.record.run_id for effect in decision.effects if isinstance(effect, PatchRun)
        } == self.active
        assert len(decision.effects) == len(self.active)

    @invariant()
    def active_ids_equal_the_model(self) -> None:
        assert set(self.state.active) == self.active

    @invariant()
    def recent_ids_equal_the_model(self) -> None:
        assert set(self.state.recent.runs) == set(self.ended[-CAPACITY:])

    @invariant()
    def counters_equal_the_model(self) -> None:
        assert {name: getattr(self.state.counters, name) for name in COUNTERS} == self.counters


TestRegistryMachine = RegistryMachine.TestCase
