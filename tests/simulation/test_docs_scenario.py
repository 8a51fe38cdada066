"""docs/simulation.md shows one scenario end to end: its code, run now, still prints what
the page says it prints."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "simulation.md"


def test_the_documented_scenario_prints_what_the_page_shows() -> None:
    text = PAGE.read_text(encoding="utf-8")
    section = text[text.index("## One scenario, end to end") :]
    [code] = re.findall(r"^```python\n(.*?)^```", section, re.MULTILINE | re.DOTALL)[:1]
    [printed] = re.findall(r"^```text\n(.*?)^```", section, re.MULTILINE | re.DOTALL)[:1]
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(code, str(PAGE), "exec"), {"__name__": "docs_simulation"})
    assert output.getvalue() == printed
