"""The threaded and the async client are two drivers of one core: for the same commands,
with time and randomness fixed, they perform the same effects, in the same order, with the
same outcomes, and answer the same (hypothesis: random command sequences, in both delivery
modes, with the service refused or no service URL; and once against the real service)."""

from __future__ import annotations

import asyncio
import itertools
import random
import tempfile
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry import AsyncTelemetryClient, TelemetryClient
from telemetry.effects.vocabulary import Effect
from telemetry.shell.client_base import Sources
from telemetry.shell.observer import Performed
from tests.shell.helpers import fast_config
from tests.support.receiver import closed_port_url
from tests.support.service import ServiceProcess

Command = tuple[Any, ...]
commands = st.lists(
    st.one_of(
        st.tuples(st.just("start"), st.sampled_from(["agent-a", "agent-b"]), st.sampled_from([None, "fixed-id", "bad/id"])),
        st.tuples(st.just("end"), st.integers(0, 9), st.sampled_from(["success", "failed", "weird"])),
        st.tuples(st.just("event"), st.integers(0, 9)),
        st.tuples(st.just("metrics"), st.integers(0, 9), st.integers(-1, 5)),
        st.tuples(st.just("commit"), st.integers(0, 9), st.sampled_from(["abcdef1", "xyz"]), st.sampled_from(["ci", "bot"])),
    ),
    max_size=12,
)


class Recorder:
    """An `EffectObserver` keeping every effect performed, with its outcome."""

    def __init__(self) -> None:
        self.seen: list[tuple[Effect, Performed]] = []

    def performed(self, effect: Effect, outcome: Performed) -> None:
        self.seen.append((effect, outcome))


def fixed_sources(seed: int) -> Sources:
    """A clock one second apart per reading and ids from a seeded generator."""
    ticks = itertools.count()
    draw = random.Random(seed)
    start = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)
    return Sources(
        clock=lambda: start + timedelta(seconds=next(ticks)),
        event_id=lambda: str(uuid.UUID(int=draw.getrandbits(128), version=4)),
        nonce=lambda: f"{draw.getrandbits(64):016x}",
    )


def run_id_of(run_ids: list[str], index: int) -> str:
    return run_ids[index % len(run_ids)] if run_ids else "never-started"


def drive_threaded(client: TelemetryClient, script: list[Command]) -> list[Any]:
    replies: list[Any] = []
    run_ids: list[str] = []
    for kind, *args in script:
        if kind == "start":
            run_ids.append(client.start_run(args[0], "job", run_id=args[1]) if args[1] else client.start_run(args[0], "job"))
            replies.append(run_ids[-1])
        elif kind == "end":
            replies.append(client.end_run(run_id_of(run_ids, args[0]), status=args[1]))
        elif kind == "event":
            replies.append(client.log_event(run_id_of(run_ids, args[0]), "step", {"n": args[0]}))
        elif kind == "metrics":
            replies.append(client.set_metrics(run_id_of(run_ids, args[0]), items_succeeded=args[1]))
        else:
            replies.append(client.associate_commit(run_id_of(run_ids, args[0]), args[1], args[2]))
    return replies


async def drive_async(client: AsyncTelemetryClient, script: list[Command]) -> list[Any]:
    replies: list[Any] = []
    run_ids: list[str] = []
    for kind, *args in script:
        if kind == "start":
            start = client.start_run(args[0], "job", run_id=args[1]) if args[1] else client.start_run(args[0], "job")
            run_ids.append(await start)
            replies.append(run_ids[-1])
        elif kind == "end":
            replies.append(await client.end_run(run_id_of(run_ids, args[0]), status=args[1]))
        elif kind == "event":
            replies.append(await client.log_event(run_id_of(run_ids, args[0]), "step", {"n": args[0]}))
        elif kind == "metrics":
            replies.append(client.set_metrics(run_id_of(run_ids, args[0]), items_succeeded=args[1]))
        else:
            replies.append(await client.associate_commit(run_id_of(run_ids, args[0]), args[1], args[2]))
    return replies


def both_clients(url: str, mode: str, script: list[Command], seed: int) -> tuple[Any, Any]:
    """(replies, effects) of the threaded client, then of the async one, each on its own
    fresh directory."""
    outcomes = []
    for make in (_threaded_run, _async_run):
        with tempfile.TemporaryDirectory() as base:
            config = fast_config(url, base_dir=Path(base), delivery=mode, breaker_cooldown_s=60.0)
            outcomes.append(make(config, script, seed))
    return outcomes[0], outcomes[1]


def _threaded_run(config: Any, script: list[Command], seed: int) -> tuple[list[Any], list[tuple[Effect, Performed]]]:
    recorder = Recorder()
    client = TelemetryClient(config, fixed_sources(seed), recorder)
    try:
        return drive_threaded(client, script), recorder.seen
    finally:
        client.close(0.5)


def _async_run(config: Any, script: list[Command], seed: int) -> tuple[list[Any], list[tuple[Effect, Performed]]]:
    recorder = Recorder()
    client = AsyncTelemetryClient(config, fixed_sources(seed), recorder)

    async def run() -> list[Any]:
        try:
            return await drive_async(client, script)
        finally:
            await client.aclose(0.5)

    return asyncio.run(run()), recorder.seen


Url = Callable[[], str]


@settings(max_examples=25, deadline=None)
@given(script=commands, mode=st.sampled_from(["sync", "background"]), world=st.sampled_from(["refused", "no service"]), seed=st.integers(0, 2**32))
def test_both_clients_perform_the_same_effects_for_the_same_commands(script: list[Command], mode: str, world: str, seed: int) -> None:
    url = closed_port_url() if world == "refused" else "not-a-url"
    threaded, awaited = both_clients(url, mode, script, seed)
    assert awaited[0] == threaded[0]  # the replies
    assert [kind for kind, _ in awaited[1]] == [kind for kind, _ in threaded[1]]  # effects, in order
    assert awaited[1] == threaded[1]  # and what became of each


def test_both_clients_perform_the_same_effects_against_the_real_service(service: ServiceProcess) -> None:
    script: list[Command] = [
        ("start", "agent-a", None), ("event", 0), ("metrics", 0, 3), ("end", 0, "failed"), ("commit", 0, "abcdef1", "ci"),
        ("start", "agent-b", "fixed-id"), ("commit", 1, "abcdef2", "llm"), ("end", 1, "success"), ("commit", 9, "abcdef3", "ci"),
    ]  # fmt: skip
    for mode in ("sync", "background"):
        threaded, awaited = both_clients(service.url, mode, script, seed=7)
        assert awaited == threaded
        outcomes = {type(effect).__name__: outcome for effect, outcome in threaded[1]}
        assert outcomes["PostCommit"] == "done" and outcomes["PostRun"] == "done"
