"""pytest plugins of the suite, registered once in tests/conftest.py (`pytest_plugins`).

- `tiers`: the fast and full tiers, derived from the fixtures a test uses;
- `models`: the generated models several areas share, from the on-disk model cache;
- `devices`: the loopback sshd servers, device users and the `Lab` that wires them;
- `docker`: the local Docker Engine, its test images and the per-test clean-up.

A fixture defined here exists once per session, whichever area uses it. An area's
own fixtures stay in its conftest.py; no conftest imports another's fixtures.
"""
