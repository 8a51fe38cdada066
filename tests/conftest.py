"""Test configuration shared by every folder: hypothesis profiles, chosen by
`TELEMETRY_HYPOTHESIS_PROFILE` (`ci` by default, `dev`, `deep`)."""

import os

from hypothesis import HealthCheck, settings

# Real-service fixtures (`service`, `service_factory`, ...) for every folder.
pytest_plugins = ["tests.support.postgres", "tests.support.service"]

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.register_profile("deep", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("TELEMETRY_HYPOTHESIS_PROFILE", "ci"))
