"""The `telemetry` command line: one click group; each command lives beside what it runs."""

from __future__ import annotations

import click

from telemetry.distribution import DISTRIBUTION


@click.group()
@click.version_option(package_name=DISTRIBUTION)
def main() -> None:
    """Run telemetry for autonomous agents."""


def _register_commands() -> None:
    from telemetry.demo import demo

    main.add_command(demo)

    from telemetry.shell.sync.command import sync

    main.add_command(sync)

    from telemetry.shell.effect_log.command import replay_command

    main.add_command(replay_command)

    from telemetry.service.commands import serve, sweep

    main.add_command(serve)
    main.add_command(sweep)

    from telemetry.views.doctor import doctor
    from telemetry.views.runs import runs
    from telemetry.views.show import show
    from telemetry.views.stats import stats
    from telemetry.views.tail import tail

    for command in (runs, show, stats, tail, doctor):
        main.add_command(command)


_register_commands()
