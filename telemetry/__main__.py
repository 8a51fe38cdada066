"""The `telemetry` command (console script and `python -m telemetry`): the click command
line when the `cli` extra is installed, else one line saying how to install it, since a
bare client install has neither click nor rich."""

from __future__ import annotations

from telemetry.distribution import require_extra


def main() -> None:
    require_extra("cli", "telemetry")
    from telemetry.cli import main as command_line

    command_line()


if __name__ == "__main__":
    main()
