"""Tests of the public client and the imperative shell, against real servers on loopback."""
