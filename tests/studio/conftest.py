"""Fixtures for the facade tests: the fleet tests' lab and the training tests' Docker
fixtures (imported, not copied), with this folder's own `sshd` (see
tests/tui/conftest.py for why it is not shared)."""

from collections.abc import Iterator

import pytest

from tests.convert.conftest import mlp  # noqa: F401 - fixture
from tests.fleet.conftest import lab, servers, users  # noqa: F401 - fixtures
from tests.helpers.sshd import SshdFactory
from tests.training.conftest import (  # noqa: F401 - fixtures
    _remove_this_studios_containers,
    docker_api,
    workspace,
)
from tests.tui.conftest import lab_sshd


@pytest.fixture(scope="session")
def sshd() -> Iterator[SshdFactory]:
    yield from lab_sshd("tfst")
