"""A frozen agent is named as such: its session starts, then never answers.

The device's Python is a wrapper that starts the real agent with an input that
never delivers (the session's requests sit unread), as an overloaded device or an
agent stuck before it reads would. Real loopback sshd devices."""

from __future__ import annotations

import stat
import tempfile
import time
from pathlib import Path

from tests.fleet.conftest import Lab, listing
from tfstudio.fleet.registry import update_device
from tfstudio.models.facts import inspect_model

WRAPPER = """#!/bin/sh
# Holds the agent's input: requests written to this session are never read.
sleep 100000 | exec {python} "$@"
"""


def _frozen_python(real: str) -> str:
    folder = Path(tempfile.mkdtemp(prefix="tfstudio-frozen-"))
    folder.chmod(0o755)
    wrapper = folder / "python"
    wrapper.write_text(WRAPPER.format(python=real))
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | 0o444)
    return str(wrapper)


def test_a_frozen_agent_ends_the_deploy_within_the_stall_timeout_named_as_such(
    lab: Lab, tiny_models: dict[str, Path], studio_config
) -> None:
    from tfstudio.cli.deploy_cmd import connector, deploy_options
    from tfstudio.config import load_config
    from tfstudio.deploy.options import Status
    from tfstudio.deploy.run import deploy_one

    studio_config("[ssh]\nstall_timeout = 3\n[deploy]\nlock_wait = 60\n")
    device = lab.add("stuck", server=1, user=1)
    before = listing(device)
    real = device.python
    device = update_device("stuck", python=_frozen_python(real))
    model = tiny_models["float32"]
    started = time.monotonic()
    result = deploy_one(
        model, inspect_model(model), device, deploy_options(load_config()), connect=connector()
    )
    took = time.monotonic() - started
    assert result.status is Status.FAILED, result.message
    assert "the agent on stuck started but has not answered for 3 s" in result.message
    assert "lock" not in result.message.split("(")[0], result.message  # not "holds the lock"
    assert took < 30, f"the deploy took {took:.0f} s"
    # Nothing changed on the device.
    assert listing(update_device("stuck", python=real))["active"] == before["active"]
