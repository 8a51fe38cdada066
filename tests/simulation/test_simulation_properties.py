"""Properties of every simulation: the same steps and seed give the same result, and a run
touches no socket, no file and no clock (each made to raise for the length of the run)."""

from __future__ import annotations

import builtins
import contextlib
import io
import os
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any, NoReturn
from unittest import mock

from hypothesis import given
from hypothesis import strategies as st

import telemetry.shell.edge as edge
from telemetry.simulation import SimulationResult, Step, simulate
from tests.properties.strategies import simulation_steps
from tests.simulation.helpers import sim_config


class WorldTouched(AssertionError):
    """The simulation reached for the real world."""


def _forbidden(what: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise WorldTouched(f"the simulation called {what}")

    return refuse


@contextlib.contextmanager
def no_real_world() -> Iterator[None]:
    """Sockets, files, the clocks and the shell's own sources of time and randomness all
    raise, wherever a telemetry module holds them by name."""
    real = {
        "now": edge.now,
        "fresh_event_id": edge.fresh_event_id,
        "fresh_nonce": edge.fresh_nonce,
    }
    with contextlib.ExitStack() as stack:
        for target, name in [
            (socket, "socket"),
            (socket, "create_connection"),
            (builtins, "open"),
            (io, "open"),
            (os, "open"),
            (os, "write"),
            (time, "monotonic"),
            (time, "sleep"),
        ]:
            stack.enter_context(mock.patch.object(target, name, _forbidden(f"{target.__name__}.{name}")))
        for module in [m for n, m in sys.modules.items() if n.startswith("telemetry.") and m is not None]:
            for name, function in real.items():
                if getattr(module, name, None) is function:
                    stack.enter_context(mock.patch.object(module, name, _forbidden(f"{module.__name__}.{name}")))
        yield


@given(steps=simulation_steps, seed=st.integers(0, 2**32))
def test_the_same_steps_and_seed_give_the_same_result(steps: list[Step], seed: int) -> None:
    first = simulate(steps, sim_config(), seed)
    second = simulate(steps, sim_config(), seed)
    assert first == second


@given(steps=simulation_steps, seed=st.integers(0, 2**32))
def test_a_simulation_touches_no_socket_file_or_clock(steps: list[Step], seed: int) -> None:
    config = sim_config()  # built outside: the test's own doing, not the simulation's
    with no_real_world():
        result = simulate(steps, config, seed)
    assert isinstance(result, SimulationResult)


def test_the_guard_against_the_real_world_really_guards() -> None:
    """The check above can fail: each thing it forbids raises inside it."""
    with no_real_world():
        for reach in (
            lambda: socket.socket(),
            lambda: open(os.devnull),
            lambda: time.monotonic(),
            lambda: edge.now(),
            lambda: sys.modules["telemetry.shell.client"].now(),
        ):
            try:
                reach()
            except WorldTouched:
                continue
            raise AssertionError("not guarded")
