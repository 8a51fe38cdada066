"""The error every command raises for a mistake in how it was called or configured: one line
on stderr (`Error: ...`), exit status 2, no traceback, before anything starts."""

from __future__ import annotations

import click


class ConfigMistake(click.ClickException):
    """A usage or configuration mistake the user can fix (exit status 2, like click's own)."""

    exit_code = 2
