"""Tests of the sync worker, `telemetry sync` and the client's background sync, against the real service."""
