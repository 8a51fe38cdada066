"""How the entries of one run fold, as a sync pass reads them, into the single record the
service converges to (`RunFold`), and the chunking of a window's runs into batches."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from telemetry.wire.format import WireEntry

T = TypeVar("T")


class RunFold:
    """The entries of one run in a window, folded as they are read into the create the
    service converges to: the run's create (else its first entry's record) with the fields
    each update names laid over it, in order; a `running` status never replaces a terminal
    one, as on the service, so the order of the updates does not matter. A single entry is
    sent as it is.

    Only the folded record and the files are kept (an entry that must go on its own is
    read again from its file), so a window holds few objects for the garbage collector."""

    __slots__ = ("paths", "_kinds", "_body", "_base_status", "_terminal", "_early")

    def __init__(self) -> None:
        self.paths: list[str] = []
        self._kinds = ""  # "c" or "u" per path: text, which the garbage collector skips
        self._body: dict[str, Any] = {}
        self._base_status = "running"
        self._terminal: str | None = None  # the last terminal status an update named
        self._early: dict[str, Any] | None = {}  # fields named before the run's create

    def add(self, path: str, entry: WireEntry) -> None:
        """Fold in the entry read from `path`; the entry's record becomes part of the fold."""
        body = entry.body
        first = not self.paths
        self.paths.append(path)
        if entry.operation == "create":
            self._kinds += "c"
            if self._early is not None:  # its first create: the base, under what updates named so far
                self._base_status = body.get("status", "running")
                body.update(self._early)
                self._body, self._early = body, None
            return
        self._kinds += "u"
        if first:  # no create yet: the first entry's record is the base until one comes
            self._body, self._base_status = body, body.get("status", "running")
        named = {name: body[name] for name in entry.fields}
        self._body.update(named)
        if self._early is not None:
            self._early.update(named)
        if named.get("status", "running") != "running":
            self._terminal = named["status"]

    def record(self) -> dict[str, Any]:
        """The create body of the folded run."""
        if len(self.paths) > 1:
            self._body["status"] = self._terminal or self._base_status
        return self._body

    @property
    def only_creates(self) -> bool:
        return "u" not in self._kinds

    def split(self) -> tuple[list[str], list[str]]:
        """(files of creates, files of updates)."""
        creates = [path for path, kind in zip(self.paths, self._kinds) if kind == "c"]
        return creates, [path for path, kind in zip(self.paths, self._kinds) if kind == "u"]


def chunks(items: list[T], size: int) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
