"""The client's own counters (what it delivered, buffered, dropped, and every error it
swallowed, by reason) and the once-per-kind logging of swallowed errors; the counters of a
helper process (the courier process) are added in as a source."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping

from telemetry.wire.errors import describe

LOGGER = logging.getLogger("telemetry")


class SelfMetrics:
    """Thread-safe counters by name, plus a memory of which kinds were already logged."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._logged: set[str] = set()
        self._sources: list[Callable[[], Mapping[str, int]]] = []

    def add_source(self, source: Callable[[], Mapping[str, int]]) -> None:
        """Counters kept elsewhere (a helper process's), added to these when read."""
        self._sources.append(source)

    def increment(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def count(self, name: str) -> int:
        with self._lock:
            own = self._counts[name]
        return own + sum(source().get(name, 0) for source in self._sources)

    def snapshot(self) -> dict[str, int]:
        """Every counter by name, sorted, as a plain dict."""
        with self._lock:
            counts = Counter(self._counts)
        for source in self._sources:
            counts.update(source())
        return dict(sorted(counts.items()))

    def first_time(self, kind: str) -> bool:
        """True the first time `kind` is seen: the caller logs it then, and only then."""
        with self._lock:
            if kind in self._logged:
                return False
            self._logged.add(kind)
            return True

    def swallowed(self, kind: str, error: BaseException | str, headline: str, level: int = logging.WARNING) -> None:
        """Count an error by `kind` (the counter `errors.<kind>` keeps the internal name) and
        log it the first time that kind occurs, in plain words: `telemetry: {headline}:
        {error}` (the headline in the spec's wording where it gives one)."""
        self.increment(f"errors.{kind}")
        if self.first_time(kind):
            detail = error if isinstance(error, str) else describe(error)
            LOGGER.log(level, "telemetry: %s: %s (logged once; counted in self_metrics)", headline, detail)

    def reset_after_fork(self) -> None:
        """A lock held by another thread at fork time would stay held in the child forever."""
        self._lock = threading.Lock()
