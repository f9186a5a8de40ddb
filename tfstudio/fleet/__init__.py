"""Deploy over SSH: devices, host-key trust, transports, preflight, push, fan-out, bench.

The core never prints: every long operation reports through callbacks and
returns frozen results with `.to_json()`, so the CLI and the TUI render them.
Nothing here imports paramiko at module level except `ssh.py`, which callers
import lazily.
"""
