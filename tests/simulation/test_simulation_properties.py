"""Properties of every simulation: the same steps and seed give the same result, and a run
touches no socket, no file and no clock (each made to raise for the length of the run)."""

from __future__ import annotations

import builtins
import contextlib
import io
import os
import random
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any, NoReturn
from unittest import mock

import pytest
import uuid_utils
from hypothesis import given
from hypothesis import strategies as st

import telemetry.shell.edge as edge
from telemetry.simulation import SimulationResult, Step, simulate
from tests.properties.strategies import simulation_steps
from tests.simulation.helpers import sim_config


class WorldTouched(BaseException):
    """The simulation reached for the real world. A `BaseException`, so that the client's
    never-raise guards (which catch `Exception`) cannot swallow it."""


def _forbidden(what: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise WorldTouched(f"the simulation called {what}")

    return refuse


class _NoWallClock(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> NoReturn:
        raise WorldTouched("the simulation read the wall clock (telemetry.shell.edge.now)")


# Every way to the world the client has: sockets, files, clocks and sources of randomness.
_FORBIDDEN = [
    (socket, "socket"),
    (socket, "create_connection"),
    (builtins, "open"),
    (io, "open"),
    (os, "open"),
    (os, "write"),
    (os, "urandom"),
    (time, "monotonic"),
    (time, "time_ns"),
    (time, "sleep"),
    (random, "getrandbits"),
    (uuid, "uuid4"),
    (uuid_utils, "uuid7"),
]


@contextlib.contextmanager
def no_real_world() -> Iterator[None]:
    """Each of `_FORBIDDEN` raises, and so does the shell's wall clock (`edge.now`, even
    where a default argument holds it). `time.time` stays: `logging` stamps its records
    with it, and the simulation logs warnings as the client does."""
    with contextlib.ExitStack() as stack:
        for target, name in _FORBIDDEN:
            stack.enter_context(mock.patch.object(target, name, _forbidden(f"{target.__name__}.{name}")))
        stack.enter_context(mock.patch.object(edge, "datetime", _NoWallClock))
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
    reaches = [lambda target=target, name=name: getattr(target, name)() for target, name in _FORBIDDEN]
    reaches += [edge.now, edge.fresh_event_id, edge.fresh_nonce, lambda: open(os.devnull)]
    with no_real_world():
        for reach in reaches:
            with pytest.raises(WorldTouched):
                reach()
