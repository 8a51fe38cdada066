"""Fixtures of the chaos tests: each runs in both delivery modes."""

from tests.support.delivery import delivery  # noqa: F401 (a fixture of these tests)
