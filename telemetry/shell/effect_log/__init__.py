"""Effect logs: every effect a client performed, with its outcome and time, one NDJSON line
each (`lines`), written off the caller's thread into a size-bounded, rotated file
(`writer`), and re-sent to a service by `telemetry replay` (`replay`, `command`)."""

from telemetry.shell.effect_log.writer import EffectLog

__all__ = ["EffectLog"]
