"""The `telemetry` command (console script and `python -m telemetry`): the click command
line when its extra is installed, else one line saying which extra to install, since a
bare client install has neither click nor rich (nor the service's web stack)."""

from __future__ import annotations

import sys

from telemetry.distribution import require_extra

# The commands that need the service's extra, checked here, before click loads: a bare
# client install has no click either. A need that depends on an option is checked by its
# command (`sweep --db`).
_SERVICE_COMMANDS = frozenset({"serve", "demo"})


def main() -> None:
    command = next((word for word in sys.argv[1:] if not word.startswith("-")), None)
    if command in _SERVICE_COMMANDS:
        require_extra("service", f"telemetry {command}")
    require_extra("cli", "telemetry" if command is None else f"telemetry {command}")
    from telemetry.cli import main as command_line

    command_line()


if __name__ == "__main__":
    main()
