"""Put the edge agent on a device and check what it needs there.

Pushes `tfstudio-agent.pyz` (built by `tfstudio.fleet.agent_bundle`) into the
device's agent home, checks Python >= 3.9, numpy and a LiteRT runtime, and
names whatever is missing. When asked (`runtime=`), it creates a user-level
venv in the agent home and pip-installs the runtime there, then points the
registry at that venv's Python. The agent's version is recorded in the
registry.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfstudio.errors import AgentError, UsageError
from tfstudio.fleet import registry
from tfstudio.fleet.agentcall import AgentClient
from tfstudio.fleet.registry import LOCAL, Device
from tfstudio.transport.base import Transport

MIN_PYTHON = (3, 9)
RUNTIME_PACKAGES = {
    "ai-edge-litert": ["ai-edge-litert", "numpy"],
    # tflite-runtime 2.14 only runs with numpy 1.
    "tflite-runtime": ["tflite-runtime", "numpy<2"],
}
PIP_TIMEOUT_S = 900.0

_PROBE = """import json, sys
from importlib import metadata, util
def ver(mod, dist):
    if util.find_spec(mod) is None:
        return None
    try:
        return metadata.version(dist)
    except Exception:
        return "unknown"
print(json.dumps({
    "python": "%d.%d.%d" % sys.version_info[:3],
    "numpy": ver("numpy", "numpy"),
    "runtimes": {"ai-edge-litert": ver("ai_edge_litert", "ai-edge-litert"),
                 "tflite-runtime": ver("tflite_runtime", "tflite-runtime")},
}))
"""
"""Runs on the device with no third-party import: only finds what is installed."""


@dataclass(frozen=True)
class AgentInstallResult:
    """What `agent install` found and did."""

    device: str
    agent_version: str | None
    python: str
    python_version: str
    numpy: str | None
    runtime: dict[str, Any] | None
    agent_path: str
    venv_created: bool
    missing: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when the agent can run models on the device."""
        return not self.missing

    def to_json(self) -> dict[str, Any]:
        """Returns the result as a dict (`ok` included)."""
        return {
            "device": self.device,
            "ok": self.ok,
            "agent_version": self.agent_version,
            "python": self.python,
            "python_version": self.python_version,
            "numpy": self.numpy,
            "runtime": self.runtime,
            "agent_path": self.agent_path,
            "venv_created": self.venv_created,
            "missing": list(self.missing),
        }


def probe(device: Device, transport: Transport) -> dict[str, Any]:
    """Returns `{python, numpy, runtimes}` of the device's Python.

    Raises AgentError when the Python is missing or older than 3.9.
    """
    result = transport.run([device.python, "-c", _PROBE], timeout=60)
    if not result.ok:
        last = (result.stderr.strip().splitlines() or [f"exit {result.exit_code}"])[-1]
        raise AgentError(
            f"{device.name}: cannot run {device.python}: {last}",
            hint="install python3 (>= 3.9) on the device, or give its path with --python",
        )
    try:
        found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise AgentError(f"{device.name}: unexpected output from {device.python}") from exc
    version = tuple(int(p) for p in str(found["python"]).split(".")[:2])
    if version < MIN_PYTHON:
        raise AgentError(
            f"{device.name}: {device.python} is Python {found['python']}; the agent needs >= 3.9",
            hint="install a newer python3 on the device and pass it with --python",
        )
    return found


def _push_agent(device: Device, transport: Transport) -> None:
    from tfstudio.fleet.agent_bundle import build_agent_pyz

    with tempfile.TemporaryDirectory(prefix="tfstudio-agent-") as tmp:
        pyz = build_agent_pyz(Path(tmp) / registry.AGENT_PYZ)
        transport.makedirs(device.agent_home)
        partial = device.agent_pyz + ".partial"
        transport.put(pyz, partial)
        transport.rename(partial, device.agent_pyz)


def _create_venv(device: Device, transport: Transport, runtime: str) -> Device:
    venv = device.remote("venv")
    made = transport.run([device.python, "-m", "venv", venv], timeout=300)
    if not made.ok:
        raise AgentError(
            f"{device.name}: cannot create a venv: {made.stderr.strip()[-200:]}",
            hint="install python3-venv on the device",
        )
    python = f"{venv}/bin/python"
    pip = transport.run(
        [python, "-m", "pip", "install", "--quiet", *RUNTIME_PACKAGES[runtime]],
        timeout=PIP_TIMEOUT_S,
    )
    if not pip.ok:
        last = (pip.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise AgentError(f"{device.name}: pip install {runtime} failed: {last}")
    return registry.update_device(device.name, python=python)


def install_agent(
    device: Device, transport: Transport, *, runtime: str | None = None
) -> AgentInstallResult:
    """Installs the agent on `device`; with `runtime`, also a venv with that runtime.

    Returns the result (its `missing` names absent numpy / runtime). Raises
    AgentError when Python is missing or too old, or the venv/pip step fails.
    """
    if runtime is not None and runtime not in RUNTIME_PACKAGES:
        raise UsageError(f"unknown runtime {runtime!r}; choose {', '.join(RUNTIME_PACKAGES)}")
    found = probe(device, transport)
    venv_created = False
    if device.kind != LOCAL:
        _push_agent(device, transport)
        wanted_missing = runtime is not None and (
            not found["runtimes"].get(runtime) or not found["numpy"]
        )
        if wanted_missing and runtime is not None:
            device = _create_venv(device, transport, runtime)
            venv_created = True
            found = probe(device, transport)
    info = AgentClient(device, transport).call("info")
    missing = []
    if not info.get("numpy"):
        missing.append("numpy")
    if not info.get("runtime"):
        missing.append("a LiteRT runtime (ai-edge-litert or tflite-runtime)")
    if device.kind != LOCAL:
        registry.update_device(device.name, agent_version=info.get("agent_version"))
    return AgentInstallResult(
        device=device.name,
        agent_version=info.get("agent_version"),
        python=device.python,
        python_version=str(found["python"]),
        numpy=info.get("numpy"),
        runtime=info.get("runtime"),
        agent_path=device.agent_pyz if device.kind != LOCAL else "(built in)",
        venv_created=venv_created,
        missing=tuple(missing),
    )
