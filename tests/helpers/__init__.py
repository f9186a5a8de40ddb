"""Shared test helpers that start real services (sshd) for the test suites and benchmarks."""
