"""The commands that show what agents did: `runs`, `show`, `stats`, `tail` and `doctor`.
They speak to the service over HTTP (shared options in `service_api`) and print rich
tables, or JSON with `--json`. Exit codes: 0 ok, 1 something is wrong or not found, 2 a
usage or configuration mistake; never a traceback for either."""
