"""The simulated client facade: each client step becomes the command `TelemetryClient`
would build (input converted at the same edge, time from the simulated clock, event ids
and nonces from the seeded randomness), decided by the core's `decide`, its effects
performed in the simulated world, and the world's answers to a commit decided into the
reply, as the real client does."""

from __future__ import annotations

from collections.abc import Callable
from typing import assert_never

from telemetry.core import AssociateCommit, Command, CoreSettings, EndRun, LogEvent, RegistryState, SetMetrics, StartRun
from telemetry.core import Heartbeat as RenewLeases
from telemetry.core import decide
from telemetry.core.commands import CommitSettled
from telemetry.core.decision import Reply
from telemetry.effects.vocabulary import Effect
from telemetry.shell.edge import json_safe_fields
from telemetry.simulation.steps import ClientStep, Commit, End, Event, Heartbeat, Metrics, Start
from telemetry.simulation.world import World

Perform = Callable[[tuple[Effect, ...], Callable[[CommitSettled], None]], None]
"""Performs effects in order in the world; what the world answered to a commit goes to the
callback, as a command for the core."""


class SimulatedClient:
    """The facade's part of `TelemetryClient`, on simulated time and randomness."""

    def __init__(self, world: World, perform: Perform) -> None:
        self._world = world
        self._perform = perform
        config = world.config
        self.state = RegistryState(settings=CoreSettings(config.export_active, max(1, config.recent_runs)))
        self.run_ids: dict[str, str] = {}
        self._starts = 0

    def take(self, step: ClientStep) -> Reply:
        """Make the call `step` stands for; its reply."""
        now = self._world.clock.now()
        match step:
            case Start():
                return self._start(step)
            case End():
                return self._execute(EndRun(self._run_id(step.run), step.status, now, json_safe_fields(step.fields)))
            case Metrics():
                return self._execute(SetMetrics(self._run_id(step.run), json_safe_fields(step.fields)))
            case Commit():
                run_id, author, timestamp = self._run_id(step.run), step.commit_author, step.commit_timestamp
                return self._execute(AssociateCommit(run_id, step.commit_hash, step.commit_source, now, author, timestamp))
            case Event():
                return self._execute(LogEvent(self._run_id(step.run), step.event_type, now, step.payload))
            case Heartbeat():
                return self._execute(RenewLeases(now))
            case _:
                assert_never(step)

    def _start(self, step: Start) -> Reply:
        self._starts += 1
        fields = json_safe_fields(step.fields)
        if self._world.config.agent_owner and "agent_owner" not in fields:
            fields["agent_owner"] = self._world.config.agent_owner
        randomness = self._world.randomness
        command = StartRun(
            agent_name=step.agent_name,
            job_type=step.job_type,
            at=self._world.clock.now(),
            event_id=randomness.event_id(),
            nonce=randomness.nonce(),
            trigger_type=step.trigger_type,
            custom_run_id=step.run_id,
            fields=fields,
        )
        run_id = self._execute(command)
        assert isinstance(run_id, str), run_id  # the core's reply to a start
        self.run_ids[step.label or step.run_id or f"run-{self._starts}"] = run_id
        return run_id

    def _run_id(self, run: str) -> str:
        return self.run_ids.get(run, run)

    def _execute(self, command: Command) -> Reply:
        decision = decide(self.state, command)
        self.state = decision.state
        answers: list[CommitSettled] = []
        self._perform(decision.effects, answers.append)
        reply = decision.reply
        for answer in answers:  # what the world answered decides the reply (state unchanged)
            reply = decide(self.state, answer).reply
        return reply
