"""`python -m telemetry` is the `telemetry` command."""

from telemetry.cli import main

main()
