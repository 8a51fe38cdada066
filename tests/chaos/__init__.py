"""Chaos tests: real agent processes, a service killed with SIGKILL, agents killed with SIGKILL."""
