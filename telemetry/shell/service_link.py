"""The client's link to the service: one lazily built `ServiceApi` (keep-alive httpx client,
short timeouts, bearer token) per process, guarded by the circuit breaker, with the
background probe that closes the breaker again once the service answers. A client without
a usable service URL (`NO_SERVICE`) never sends: every delivery takes its fallback."""

from __future__ import annotations

import threading

from telemetry.shell.breaker import CircuitBreaker
from telemetry.settings import url_problem
from telemetry.shell.config import TelemetryConfig
from telemetry.shell.self_metrics import LOGGER, SelfMetrics
from telemetry.shell.service_api import ServiceApi, Unavailable
from telemetry.shell.workers import PerProcess


class ServiceLink:
    """Whether to talk to the service now, and the `ServiceApi` to talk with."""

    def __init__(self, config: TelemetryConfig, metrics: SelfMetrics) -> None:
        self._config = config
        self._metrics = metrics
        self.has_service = url_problem(config.api_url) is None
        self.breaker = CircuitBreaker(config.breaker_cooldown_s)
        self._api = PerProcess(
            lambda: ServiceApi(
                config.api_url, config.api_token, connect_timeout=config.connect_timeout_s, read_timeout=config.read_timeout_s
            )
        )

    @property
    def api(self) -> ServiceApi:
        return self._api.get()

    def admit(self) -> bool:
        """True if a request may go to the service now; False means: take the fallback."""
        if not self.has_service:
            self._metrics.increment("delivery.no_service")
            self._metrics.swallowed(
                "no_service", "the configured api_url was malformed (see the configuration warning)",
                "no service to send to; keeping every run in the buffer",
            )  # fmt: skip
            return False
        verdict = self.breaker.admit()
        if verdict == "send":
            return True
        self._metrics.increment("breaker.short_circuited")
        if verdict == "probe":
            threading.Thread(target=self._probe, name="telemetry-probe", daemon=True).start()
        return False

    def settle(self, outcome: object) -> None:
        """Tell the breaker whether the service answered (any HTTP answer but 408/429/5xx)."""
        reached = not isinstance(outcome, Unavailable)
        if self.breaker.record(reached):
            self._metrics.increment("breaker.opened")
            reason = outcome.reason if isinstance(outcome, Unavailable) else "unavailable"
            self._metrics.swallowed(
                "service", f"{reason}; buffering until it answers again", "API unavailable, buffering event"
            )

    def _probe(self) -> None:
        try:
            outcome = self.api.health()
        except Exception as error:
            outcome = Unavailable(f"probe failed: {error!r}")
        reached = not isinstance(outcome, Unavailable)
        self.breaker.record(reached)
        self._metrics.increment("breaker.probe_ok" if reached else "breaker.probe_failed")
        if reached:
            LOGGER.info("telemetry: service at %s answers again", self._config.api_url)

    def after_fork(self) -> None:
        """The child builds its own connections; the parent's sockets stay the parent's."""
        self._api.forget()
        self.breaker.reset_after_fork()

    def close(self) -> None:
        api = self._api.current()
        self._api.forget()
        if api is not None:
            api.close()
