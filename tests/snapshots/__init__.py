"""Snapshot tests: the effects the core emits for each command, as readable text."""
