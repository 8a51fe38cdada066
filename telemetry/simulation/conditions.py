"""The scripted state of the world a simulation runs in: how the service answers right now
and whether the disk has room. Scenarios change it with `SetCondition` steps between
commands; the simulated service and buffer read it on every call.

Service modes, as the real client meets them:
- `up`: the in-memory service answers as the real one does.
- `down`: nobody listens; the connection is refused at once.
- `slow`: the service accepts and never answers; each call costs the read timeout of
  simulated time and is unavailable.
- `erroring`: every request gets `status` (5xx, 408 or 429): unavailable.
- `refusing`: every write is refused with `status` (a 4xx) and `reason`; reads answer.
- `unauthorized`: every request but `/health` gets 401 (a wrong token)."""

from __future__ import annotations

from typing import Literal

import attrs

ServiceMode = Literal["up", "down", "slow", "erroring", "refusing", "unauthorized"]


@attrs.frozen
class Conditions:
    """The world's conditions at one moment."""

    service: ServiceMode = "up"
    status: int = 0
    reason: str = ""
    disk_full: bool = False


@attrs.frozen
class SetCondition:
    """A step: change the service's mode (with the `status` and `reason` of `refusing` and
    `erroring`) and/or the disk; a field left None keeps its current value."""

    service: ServiceMode | None = None
    status: int | None = None
    reason: str | None = None
    disk_full: bool | None = None

    def applied_to(self, conditions: Conditions) -> Conditions:
        """The conditions after this step."""
        service = conditions.service if self.service is None else self.service
        changed_mode = self.service is not None and self.service != conditions.service
        status = self.status if self.status is not None else (_default_status(service) if changed_mode else conditions.status)
        reason = self.reason if self.reason is not None else ("" if changed_mode else conditions.reason)
        disk_full = conditions.disk_full if self.disk_full is None else self.disk_full
        return Conditions(service, status, reason, disk_full)


def _default_status(mode: ServiceMode) -> int:
    return {"erroring": 503, "refusing": 422, "unauthorized": 401}.get(mode, 0)
