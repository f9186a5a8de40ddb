"""Eval data for on-device evaluation: check it against the model, add a float reference.

A file with labels (`y`) or float reference outputs (`reference`) is sent as
it is. Without either, the float model (`--reference`, else the model's
float32 sibling from the same conversion) is run here on `x` and the package
`x` + `reference` is cached by the hashes of the data and the float model, so
its sha256 (and the copy kept on devices) stays the same from run to run.
`run_host` runs the agent's own `eval` on this machine, in a child process.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfstudio.config import studio_home
from tfstudio.digest import file_sha256
from tfstudio.errors import RepresentativeDataError
from tfstudio.fleet.agentcall import AgentClient
from tfstudio.fleet.registry import LOCAL, Device
from tfstudio.operations import CancelToken
from tfstudio.transport.base import Transport


@dataclass(frozen=True)
class EvalData:
    """The file a device evaluates on: `x` with labels `y` and/or float `reference` outputs."""

    path: Path
    sha256: str
    samples: int
    labelled: bool
    reference: bool
    source: Path
    reference_model: Path | None = None

    def to_json(self) -> dict[str, Any]:
        """Returns the fields with paths as strings."""
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "samples": self.samples,
            "labelled": self.labelled,
            "reference": self.reference,
            "source": str(self.source),
            "reference_model": str(self.reference_model) if self.reference_model else None,
        }


def _host_device() -> tuple[Device, Transport]:
    """The host as an agent 'device': this Python, a scratch agent home of the studio."""
    from tfstudio.transport.local import LocalTransport

    home = studio_home() / "cache" / "host-agent"
    device = Device(name="host", kind=LOCAL, python=sys.executable, agent_home=str(home))
    return device, LocalTransport(home, name="host")


def run_host(
    model: Path,
    data: Path,
    *,
    sha256: str | None = None,
    outputs_to: Path | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, Any]:
    """Runs the agent's `eval` here, in a child process; returns its report (with top-1).

    Raises AgentRefusal (e.g. `no_runtime`: no LiteRT runtime on the host),
    TransportError, CancelledError.
    """
    device, transport = _host_device()
    args = ["--top1", f"--model={model.resolve()}"]
    if sha256:
        args.append(f"--sha256={sha256}")
    if outputs_to is not None:
        args.append(f"--outputs-to={outputs_to}")
    with transport:
        return AgentClient(device, transport, timeout=600).call(
            "eval", *args, "--", str(data.resolve()), cancel=cancel
        )


def float_sibling(model: Path) -> Path | None:
    """Returns `NAME.float32.tflite` beside `NAME.MODE.tflite` (convert's layout), if present."""
    parts = model.name.split(".")
    if len(parts) >= 3 and parts[-1] == "tflite":
        candidate = model.with_name(".".join([*parts[:-2], "float32", "tflite"]))
        if candidate.is_file():
            return candidate
    return None


def _load(path: Path) -> dict[str, Any]:
    import numpy as np

    try:
        loaded = np.load(str(path), allow_pickle=False)
    except FileNotFoundError:
        raise RepresentativeDataError(f"eval data {path} not found") from None
    except (OSError, ValueError, EOFError) as exc:
        raise RepresentativeDataError(
            f"eval data {path} is not a readable .npy or .npz file ({exc})"
        ) from None
    if isinstance(loaded, np.ndarray):
        return {"x": loaded}
    with loaded:
        return {name: loaded[name] for name in loaded.files}


def prepare_data(model: Path, data: Path, *, reference_model: Path | None = None) -> EvalData:
    """Returns the eval data to send: the file itself when it has labels (`y`) or a float
    `reference`; otherwise a package of `x` plus the float model's outputs on it, made
    here once and cached by hash.

    The float model is `reference_model`, else the model's float32 sibling.
    Raises RepresentativeDataError (one line) for a file without `x`, or without
    labels and with no float model to compare to.
    """
    arrays = _load(data)
    if not arrays:
        raise RepresentativeDataError(f"eval data {data} holds no arrays")
    samples = _check_fits(model, arrays, data)
    labelled = "y" in arrays
    if labelled or "reference" in arrays:
        sha = file_sha256(data)
        return EvalData(data, sha, samples, labelled, "reference" in arrays, data)
    floats = reference_model or float_sibling(model)
    if floats is None:
        raise RepresentativeDataError(
            f"eval data {data.name} has no labels (y) and no float reference outputs",
            hint="add y to the .npz, or give the float model: --reference MODEL.float32.tflite",
        )
    return _with_reference(data, arrays, floats, samples)


def _check_fits(model: Path, arrays: dict[str, Any], data: Path) -> int:
    """Returns the sample count after checking `x` and `y` against the model's one input
    (the agent checks again, with the runtime's own view). Raises RepresentativeDataError."""
    from tfstudio.models.facts import inspect_model

    facts = inspect_model(model)
    if len(facts.inputs) != 1 or "x" not in arrays:
        first = arrays.get("x", next(iter(arrays.values())))
        return int(first.shape[0]) if getattr(first, "ndim", 0) else 1
    x, want = arrays["x"], tuple(int(d) for d in facts.inputs[0].shape)
    if x.ndim != len(want) or tuple(x.shape[1:]) != want[1:] or not x.shape[0]:
        per = ", ".join(str(d) for d in want[1:])
        raise RepresentativeDataError(
            f"eval data {data.name}: x has shape {tuple(x.shape)}; {model.name} takes (N, {per})"
        )
    if "y" in arrays and len(arrays["y"]) != x.shape[0]:
        raise RepresentativeDataError(
            f"eval data {data.name}: {len(arrays['y'])} labels for {x.shape[0]} samples"
        )
    return int(x.shape[0])


def _with_reference(data: Path, arrays: dict[str, Any], floats: Path, samples: int) -> EvalData:
    import io

    import numpy as np

    from tfstudio.atomic import write_bytes_atomic

    key = hashlib.sha256(f"{file_sha256(data)}:{file_sha256(floats)}".encode()).hexdigest()
    cache = studio_home() / "cache" / "evaldata"
    cache.mkdir(parents=True, exist_ok=True)
    package = cache / f"{key[:32]}.npz"
    if not package.is_file():
        outputs = cache / f"{key[:32]}.reference.npy"
        run_host(floats, data, outputs_to=outputs)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays, reference=np.load(str(outputs)))
        write_bytes_atomic(package, buffer.getvalue())
        outputs.unlink(missing_ok=True)
    sha = file_sha256(package)
    return EvalData(package, sha, samples, False, True, data, floats)
