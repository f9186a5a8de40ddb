"""Models are private on the device in transit as at rest: an upload in the inbox has the
same permissions as a stored model (owner only). Real loopback sshd devices."""

from __future__ import annotations

import pwd
import stat
from pathlib import Path

from tests.fleet.conftest import Lab
from tfstudio.deploy.options import DeployOptions, Status
from tfstudio.deploy.run import deploy_one
from tfstudio.models.facts import inspect_model
from tfstudio.operations import CancelToken, Event, TransferTick


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_upload_in_transit_is_as_private_as_a_stored_model(
    lab: Lab, big_model: Path, tiny_models: dict[str, Path]
) -> None:
    device = lab.add("private", server=0)
    home = Path(pwd.getpwnam(device.user or "").pw_dir) / device.agent_home
    facts = inspect_model(big_model)
    cancel = CancelToken()

    def stop_mid_push(event: Event) -> None:
        if isinstance(event, TransferTick) and (2 << 20) <= event.done < event.total:
            cancel.cancel()

    result = deploy_one(
        big_model, facts, device, DeployOptions(), on_event=stop_mid_push, cancel=cancel
    )
    assert result.status is Status.CANCELLED, result.message
    partial = home / "inbox" / f"{facts.sha256}.partial"
    assert partial.exists(), list((home / "inbox").iterdir())
    assert partial.stat().st_size < facts.size_bytes
    assert _mode(partial) == 0o600, oct(_mode(partial))
    assert _mode(home / "inbox") == 0o700, oct(_mode(home / "inbox"))

    result = deploy_one(big_model, facts, device, DeployOptions())
    assert result.status is Status.OK, result.message
    stored = home / "models" / facts.sha256
    assert _mode(stored) == 0o700 and _mode(stored / "model.tflite") == 0o600
    assert _mode(home / "models") == 0o700
