"""Disk accounting on a real, small tmpfs as the agent's home: preflight asks for what install
really needs, a resumable partial of the same model counts, other models' leftovers go.
"""

from __future__ import annotations

import os
import pwd
import time
from collections.abc import Callable
from pathlib import Path

from tests.fleet.conftest import Lab, listing
from tfstudio.deploy.options import DeployOptions, Status
from tfstudio.deploy.run import deploy_one
from tfstudio.fleet.agent_bundle import build_agent_bytes
from tfstudio.models.facts import inspect_model


def test_preflight_asks_for_what_install_needs(
    lab: Lab, big_model: Path, device_tmpfs: Callable[[int, int], Path]
) -> None:
    facts = inspect_model(big_model)
    # Not even room for the upload.
    home = device_tmpfs(int(facts.size_bytes * 0.8), 0)
    device = lab.add("tight", server=0, agent_home=str(home / "agent"))
    result = deploy_one(big_model, facts, device, DeployOptions())
    assert result.status is Status.REFUSED, result.message
    assert result.bytes_sent == 0
    assert f"needs {facts.size_bytes + (1 << 20)} bytes" in result.message
    # Nothing is stored there yet: prune cannot help, and the hint says what can.
    assert "tight stores no model, so prune frees nothing" in (result.hint or "")
    assert "--keep" not in (result.hint or "")
    # Room for the upload, not for a second copy: the upload is stored in place.
    roomy = device_tmpfs(int(facts.size_bytes * 1.6), 0)
    device = lab.add("snug", server=0, agent_home=str(roomy / "agent"))
    result = deploy_one(big_model, facts, device, DeployOptions())
    assert result.status is Status.OK, result.message
    assert listing(device)["active"] == facts.sha256


def test_a_resumable_partial_counts_and_stale_leftovers_are_removed(
    lab: Lab, big_model: Path, tiny_models: dict[str, Path], device_tmpfs
) -> None:
    facts = inspect_model(big_model)
    home = device_tmpfs(int(facts.size_bytes * 2.6), 1)
    device = lab.add("leftovers", server=1, user=1, agent_home=str(home / "agent"))
    inbox = home / "agent" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    uid = pwd.getpwnam(lab.users[1]).pw_uid
    # A day-old upload of another model holds 0.9x the model ...
    stale = inbox / f"{'e' * 64}.partial"
    stale.write_bytes(b"\0" * int(facts.size_bytes * 0.9))
    day_ago = time.time() - 2 * 86400
    os.utime(stale, (day_ago, day_ago))
    # ... and an interrupted upload of this very model holds its first 60 %.
    own = inbox / f"{facts.sha256}.partial"
    own.write_bytes(big_model.read_bytes()[: int(facts.size_bytes * 0.6)])
    for path in (inbox, stale, own):
        os.chown(path, uid, uid)
    result = deploy_one(big_model, facts, device, DeployOptions())
    assert result.status is Status.OK, result.message
    assert result.resumed_from == int(facts.size_bytes * 0.6)
    assert not stale.exists(), "the day-old upload of another model is removed"
    assert listing(device)["active"] == facts.sha256


def test_a_full_device_names_what_frees_space(
    lab: Lab, tiny_models: dict[str, Path], device_tmpfs
) -> None:
    from tfstudio.fleet.connect import open_transport

    # Room for the agent (its bundle carries compiled modules) and little else.
    home = device_tmpfs(len(build_agent_bytes()) + 128 * 1024, 0)
    device = lab.add("fullish", server=2, agent_home=str(home / "agent"))
    model = tiny_models["float32"]
    with open_transport(device) as transport:
        filler = str(home / "agent" / "filler")
        transport.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1024", "count=2000"])
    result = deploy_one(model, inspect_model(model), device, DeployOptions())
    assert result.status is Status.REFUSED
    assert "outside the agent home" in (result.hint or ""), result.hint
