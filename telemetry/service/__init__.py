"""The telemetry HTTP service and its stores."""
