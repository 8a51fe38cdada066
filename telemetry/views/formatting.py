"""How the commands read times from the user and write runs for people: relative or ISO
times to UTC, durations and timestamps in few characters, status colours, and agent values
wrapped as rich `Text` (never parsed as rich markup, so `[red]` in a name stays text)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import click
from rich.console import Console
from rich.text import Text

_RELATIVE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
STATUS_STYLES = {
    "success": "green",
    "failure": "bold red",
    "partial": "yellow",
    "timeout": "magenta",
    "cancelled": "bright_black",
    "running": "cyan",
}


def console() -> Console:
    """The console of the commands' output (width from the terminal, or COLUMNS)."""
    return Console(highlight=False, soft_wrap=False)


def parse_when(option: str, text: str | None, now: datetime) -> str | None:
    """An ISO time (no zone: local time) or a span back from `now` (`30m`, `24h`, `7d`,
    `2w`) as ISO UTC text; a usage error (exit 2) naming the option otherwise."""
    if text is None:
        return None
    relative = _RELATIVE.match(text)
    if relative:
        moment = now - timedelta(**{_UNITS[relative[2]]: int(relative[1])})
    else:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise click.BadParameter(
                f"{text!r} is neither an ISO time (2026-05-01T12:00) nor a span back (30m, 24h, 7d, 2w)",
                param_hint=option,
            ) from None
        if moment.tzinfo is None:
            moment = moment.astimezone()
    return moment.astimezone(timezone.utc).isoformat()


def duration_text(milliseconds: Any) -> str:
    if not isinstance(milliseconds, (int, float)):
        return "-"
    if milliseconds < 1000:
        return f"{milliseconds:.0f} ms"
    seconds = milliseconds / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def when_text(stamp: Any, *, with_year: bool = False) -> str:
    """A stored timestamp in UTC, to the minute (`12-05 08:40`)."""
    if not isinstance(stamp, str):
        return "-"
    try:
        moment = datetime.fromisoformat(stamp).astimezone(timezone.utc)
    except ValueError:
        return stamp
    return moment.strftime("%Y-%m-%d %H:%M:%S" if with_year else "%m-%d %H:%M")


def text(value: Any, style: str = "") -> Text:
    """An agent's value as plain text for a table cell."""
    return Text("-" if value is None else str(value), style=style)


def status_text(status: Any) -> Text:
    return text(status, STATUS_STYLES.get(str(status), ""))


def percent_text(rate: Any) -> Text:
    if not isinstance(rate, (int, float)):
        return text("-")
    style = "green" if rate >= 0.95 else "yellow" if rate >= 0.8 else "red"
    return text(f"{rate * 100:.1f}%", style)
