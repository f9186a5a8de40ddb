"""Fixtures for the facade tests: the fleet tests' sshd lab, imported (not copied)."""

from tests.convert.conftest import mlp  # noqa: F401 - fixture
from tests.fleet.conftest import lab, servers, sshd, users  # noqa: F401 - fixtures
