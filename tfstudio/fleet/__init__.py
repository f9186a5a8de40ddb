"""Devices and their agent: the registry, host-key trust, the connector, installing and
calling the agent, sessions, verified pushes, the fan-out pool, checks, the agent's service
and the deploy log.

The core never prints: every long operation reports through callbacks and
returns frozen results with `.to_json()`, so the CLI and the TUI render them.
"""
