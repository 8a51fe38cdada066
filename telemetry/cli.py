"""The `telemetry` command line: one click group; each command lives beside what it runs."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="telemetry")
def main() -> None:
    """Run telemetry for autonomous agents."""
