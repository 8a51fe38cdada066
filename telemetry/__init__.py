"""Run telemetry for autonomous agents."""
