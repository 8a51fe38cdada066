"""Hypothesis strategies for the client's tests: garbage of every type an agent could pass."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


class Hostile:
    """An object whose str, repr, hash and equality all raise."""

    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no equality")

    def __hash__(self) -> int:
        raise RuntimeError("no hash")


class Sneaky(str):
    """A str subclass that lies about itself."""

    def __str__(self) -> str:
        return "sneaky"


def cyclic() -> list[Any]:
    cycle: list[Any] = [1]
    cycle.append(cycle)
    return cycle


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**300) | st.integers(max_value=-(2**63) - 1, min_value=-(2**300)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.text(st.characters(exclude_categories=()), max_size=8),  # lone surrogates, NUL, controls
    st.text(st.sampled_from("/\\\x00 .-"), max_size=6),
    st.text(max_size=300, min_size=256),
    st.binary(max_size=10),
    st.datetimes(),
    st.decimals(allow_nan=True),
    st.complex_numbers(),
    st.builds(Hostile),
    st.builds(Sneaky, st.text(max_size=5)),
    st.builds(cyclic),
    st.builds(object),
)
garbage = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3)
    | st.tuples(children, children)
    | st.frozensets(st.integers(), max_size=3)
    | st.dictionaries(st.text(max_size=5) | st.integers() | st.tuples(st.integers()), children, max_size=3),
    max_leaves=8,
)
"""Anything at all, nested: what a careless or hostile agent might pass anywhere."""

# Keyword names the public methods take themselves: a field of that name cannot be passed.
_NAMED = frozenset({"agent_name", "job_type", "trigger_type", "run_id", "status", "self"})

# Keyword arguments: real field names and made-up ones, with garbage values.
fields = st.dictionaries(
    st.sampled_from(["items_discovered", "items_succeeded", "error_summary", "metrics_json", "context_json", "product", "end_time", "event_id"])
    | st.text(max_size=8),
    garbage,
    max_size=4,
).map(lambda given: {name: value for name, value in given.items() if name not in _NAMED})
