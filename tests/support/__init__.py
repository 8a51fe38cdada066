"""Helpers the tests share: real servers and receivers on loopback."""
