"""The client's link to the service: `ServiceGuard`, the circuit breaker's rules with their
counting, whatever the runtime (its clock injectable; the port decides how to probe), and
`ServiceLink`, the threaded client's: one lazily built `ServiceApi` (keep-alive, short
timeouts, bearer token) per process, with the background probe thread that closes the
breaker again once the service answers. A client without a usable service URL
(`NO_SERVICE`) never sends: every delivery takes its fallback."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from telemetry.shell.breaker import CircuitBreaker, Verdict
from telemetry.settings import url_problem
from telemetry.shell.config import TelemetryConfig
from telemetry.shell.self_metrics import LOGGER, SelfMetrics
from telemetry.shell.service_api import ServiceApi, Unavailable
from telemetry.shell.workers import PerProcess


class ServiceGuard:
    """Whether to talk to the service now: the breaker, counted in self-metrics."""

    def __init__(
        self, url: str, cooldown_s: float, metrics: SelfMetrics, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._url = url
        self._metrics = metrics
        self.has_service = url_problem(url) is None
        self.breaker = CircuitBreaker(cooldown_s, clock)

    def admit(self) -> Verdict:
        """`send`, or take the fallback: `skip`, or `probe` (and start the probe)."""
        if not self.has_service:
            self._metrics.increment("delivery.no_service")
            self._metrics.swallowed(
                "no_service", "the configured api_url was malformed (see the configuration warning)",
                "no service to send to; keeping every run in the buffer",
            )  # fmt: skip
            return "skip"
        verdict = self.breaker.admit()
        if verdict != "send":
            self._metrics.increment("breaker.short_circuited")
        return verdict

    def settle(self, outcome: object) -> None:
        """Tell the breaker whether the service answered (any HTTP answer but 408/429/5xx)."""
        reached = not isinstance(outcome, Unavailable)
        if self.breaker.record(reached):
            self._metrics.increment("breaker.opened")
            reason = outcome.reason if isinstance(outcome, Unavailable) else "unavailable"
            self._metrics.swallowed(
                "service", f"{reason}; buffering until it answers again", "API unavailable, buffering event"
            )

    def probed(self, outcome: object) -> None:
        """Note a probe's outcome (the answer to `GET /health`)."""
        reached = not isinstance(outcome, Unavailable)
        self.breaker.record(reached)
        self._metrics.increment("breaker.probe_ok" if reached else "breaker.probe_failed")
        if reached:
            LOGGER.info("telemetry: service at %s answers again", self._url)


class ServiceLink:
    """Whether to talk to the service now, and the `ServiceApi` to talk with."""

    def __init__(self, config: TelemetryConfig, metrics: SelfMetrics, clock: Callable[[], float] = time.monotonic) -> None:
        self.guard = ServiceGuard(config.api_url, config.breaker_cooldown_s, metrics, clock)
        self.has_service = self.guard.has_service
        self._api = PerProcess(
            lambda: ServiceApi(
                config.api_url, config.api_token, connect_timeout=config.connect_timeout_s, read_timeout=config.read_timeout_s
            )
        )

    @property
    def api(self) -> ServiceApi:
        return self._api.get()

    def admit(self) -> bool:
        """True if a request may go to the service now; False means: take the fallback
        (and, once the cooldown is over, a probe starts in the background)."""
        verdict = self.guard.admit()
        if verdict == "probe":
            threading.Thread(target=self._probe, name="telemetry-probe", daemon=True).start()
        return verdict == "send"

    def settle(self, outcome: object) -> None:
        self.guard.settle(outcome)

    def _probe(self) -> None:
        try:
            outcome = self.api.health()
        except Exception as error:
            outcome = Unavailable(f"probe failed: {error!r}")
        self.guard.probed(outcome)

    def after_fork(self) -> None:
        """The child builds its own connections; the parent's sockets stay the parent's."""
        self._api.forget()
        self.guard.breaker.reset_after_fork()

    def close(self) -> None:
        api = self._api.current()
        self._api.forget()
        if api is not None:
            api.close()
