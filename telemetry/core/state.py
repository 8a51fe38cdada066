"""The core's state: active runs, a bounded memory of recently ended runs (so a commit can
be associated after `end_run`), the run-id counters and the settings that shape decisions.

Maps are persistent hash tries (`immutables.Map`), so a command costs O(log n) in the
number of runs held, and every state ever returned stays valid and unchanged."""

from __future__ import annotations

import attrs
from immutables import Map

from telemetry.core.counters import RunIdCounters
from telemetry.effects.records import RunRecord

DEFAULT_RECENT_CAPACITY = 1024


@attrs.frozen
class CoreSettings:
    """Configuration the decisions depend on, fixed when the client is built."""

    export_enabled: bool = False
    recent_capacity: int = attrs.field(default=DEFAULT_RECENT_CAPACITY, validator=attrs.validators.ge(1))


@attrs.frozen
class RecentRuns:
    """The last `capacity` ended runs by run id; the oldest is forgotten first.

    `slots` is a ring of (run id, event id) indexed by `ended_count % capacity`; a slot
    forgets its run only if that run id was not reused by a later run."""

    runs: Map[str, RunRecord] = Map()
    slots: Map[int, tuple[str, str]] = Map()
    ended_count: int = 0

    def remember(self, record: RunRecord, capacity: int) -> RecentRuns:
        slot = self.ended_count % capacity
        runs = self.runs
        evicted = self.slots.get(slot)
        if evicted is not None:
            held = runs.get(evicted[0])
            if held is not None and held.event_id == evicted[1]:
                runs = runs.delete(evicted[0])
        return RecentRuns(
            runs.set(record.run_id, record),
            self.slots.set(slot, (record.run_id, record.event_id)),
            self.ended_count + 1,
        )

    def replace(self, record: RunRecord) -> RecentRuns:
        return attrs.evolve(self, runs=self.runs.set(record.run_id, record))


@attrs.frozen
class RegistryState:
    """Everything the core knows between two commands."""

    active: Map[str, RunRecord] = Map()
    recent: RecentRuns = RecentRuns()
    counters: RunIdCounters = RunIdCounters()
    settings: CoreSettings = CoreSettings()
