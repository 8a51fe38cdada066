"""README.md and docs/*.md point only at files of this repository that exist: every relative
markdown link, and every path in backticks that names one of the repository's folders or a
markdown page (a page kept outside the repository, or a path in another repository, is
named in plain words, not as a link or a code span)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])
# [text](target) and [label]: target; an image's ![alt](target) matches too.
_LINK = re.compile(r"\]\(\s*(?:<([^>]+)>|([^)\s]+))|^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_REPO_FOLDERS = ("telemetry/", "tests/", "bench/", "docs/", "scripts/")
# A path in backticks that starts with a folder of the repository or names a markdown page.
_CODE_PATH = re.compile(r"`((?:%s)[^`\s]*|[^`\s]+\.md)`" % "|".join(re.escape(folder) for folder in _REPO_FOLDERS))
_PLACEHOLDER = re.compile(r"[{}<>*]|\.\.\.")


def _prose(page: Path) -> str:
    """The page without its fenced code blocks (shell sessions, pictures)."""
    return _FENCE.sub("", page.read_text(encoding="utf-8"))


def links(text: str) -> list[str]:
    """Every link target in `text`, as written."""
    return [bracketed or inline or reference for bracketed, inline, reference in _LINK.findall(text)]


def _is_local(target: str) -> bool:
    return not re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) and not target.startswith("#")


def test_the_link_finder_sees_inline_and_reference_links() -> None:
    text = "see [a](docs/a.md#x), [b]( <b c.md> ), ![p](img.png \"t\")\n[ref]: ../outside.md\n"
    assert links(text) == ["docs/a.md#x", "b c.md", "img.png", "../outside.md"]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_relative_link_names_a_file_of_the_repository(page: Path) -> None:
    broken = []
    for target in filter(_is_local, links(_prose(page))):
        resolved = (page.parent / target.split("#")[0]).resolve()
        if not resolved.is_relative_to(REPO) or not resolved.exists():
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_repository_path_in_backticks_exists(page: Path) -> None:
    named = [path for path in _CODE_PATH.findall(_prose(page)) if not _PLACEHOLDER.search(path)]
    assert [path for path in named if not (REPO / path.split(":")[0]).exists()] == []
