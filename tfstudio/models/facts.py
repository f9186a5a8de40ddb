"""Facts about a `.tflite` file, read without tensorflow.

A thin, stable front over `edge_agent.tflite_schema` for the studio: `inspect`,
the conversion report and the deploy preflight all use it, so they describe a
model with the same fields and fail with the same one-line error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edge_agent import measured, tflite_schema
from edge_agent.min_runtime import TABLE_TENSORFLOW_VERSION, op_runtime
from edge_agent.tflite_schema import ModelFacts, TensorInfo
from tfstudio.errors import ModelFormatError

__all__ = [
    "ModelFacts",
    "describe_measured",
    "describe_runtime",
    "facts_to_json",
    "measured_json",
    "inspect_bytes",
    "inspect_model",
    "runtime_json",
]


def inspect_model(path: str | Path, sha256: str | None = None) -> ModelFacts:
    """Returns the facts of the .tflite file at `path`.

    `sha256`, when the caller knows the file's digest (a digest record whose file
    identity holds, `tfstudio.digest`), is used as is: the file is memory-mapped and
    only the pages the parser visits are read, not the weights. Raises
    tfstudio.errors.ModelFormatError (one line naming the file) when it
    is missing, unreadable, not a TFLite flatbuffer or truncated.
    """
    model = Path(path)
    if model.is_dir():
        raise ModelFormatError(f"{path} is a directory, not a .tflite file")
    try:
        if sha256 is None:
            return tflite_schema.read_model_facts(model)
        return _mapped_facts(model, sha256)
    except FileNotFoundError as exc:
        raise ModelFormatError(f"{path} does not exist") from exc
    except OSError as exc:
        raise ModelFormatError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except tflite_schema.ModelFormatError as exc:
        raise ModelFormatError(f"{path}: {exc}") from exc


def _mapped_facts(model: Path, sha256: str) -> ModelFacts:
    import mmap

    with open(model, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return tflite_schema.read_model_facts(b"", sha256)
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return tflite_schema.read_model_facts(mapped, sha256)


def inspect_bytes(data: bytes, name: str) -> ModelFacts:
    """Returns the facts of an in-memory model; `name` is used in the error message.

    Raises tfstudio.errors.ModelFormatError.
    """
    try:
        return tflite_schema.read_model_facts(data)
    except tflite_schema.ModelFormatError as exc:
        raise ModelFormatError(f"{name}: {exc}") from exc


def facts_to_json(facts: ModelFacts, path: str | Path | None = None) -> dict[str, Any]:
    """Returns the per-model fields shared by `inspect --json` and `convert --json`.

    Keys: path (when given), size_bytes, sha256, min_runtime_version (computed
    from the ops, see `runtime_json`), min_runtime, measured (`measured_json`),
    flex_ops, custom_ops, ops [{name, version, count, min_runtime, first_release}]
    (counts over every subgraph; first_release: the oldest measured release of each
    runtime registering the op version), kernels (each op with its tensor types),
    inputs and outputs [{name, signature_name, shape, shape_signature, dtype,
    quantization}], subgraphs [{index, name, operators, tensors, inputs,
    outputs, ops}] and signatures [{key, subgraph, inputs, outputs}].
    """
    out: dict[str, Any] = {}
    if path is not None:
        out["path"] = str(path)
    out.update(
        size_bytes=facts.size_bytes,
        sha256=facts.sha256,
        min_runtime_version=facts.min_runtime_version,
        min_runtime=runtime_json(facts),
        measured=measured_json(facts),
        flex_ops=facts.flex_ops,
        custom_ops=facts.custom_ops,
        ops=[
            {"name": op.name, "version": op.version, "count": op.count,
             "min_runtime": op_runtime(op.name, op.version),
             "first_release": {name: measured.first_release(op.name, op.version, name)
                               for name in RUNTIME_NAMES}}
            for op in facts.ops
        ],
        kernels=facts.kernels,
        inputs=[_tensor_json(t) for t in facts.inputs],
        outputs=[_tensor_json(t) for t in facts.outputs],
        subgraphs=[
            {"index": g.index, "name": g.name, "operators": g.operators, "tensors": g.tensors,
             "inputs": g.inputs, "outputs": g.outputs, "ops": dict(g.ops)}
            for g in facts.subgraphs
        ],
        signatures=[
            {"key": s.key, "subgraph": s.subgraph, "inputs": list(s.inputs),
             "outputs": list(s.outputs)}
            for s in facts.signatures
        ],
    )  # fmt: skip
    return out


def runtime_json(facts: ModelFacts) -> dict[str, Any]:
    """Returns {version, set_by, metadata_version, table, known, unknown_ops}.

    `version` is the computed minimum runtime (max of the ops' table entries and
    the metadata); `known` is False when some builtin op version is missing
    from the table (`unknown_ops`), so the true need may be higher.
    """
    return {
        "version": facts.min_runtime_version,
        "set_by": facts.min_runtime_set_by,
        "metadata_version": facts.metadata_min_runtime_version,
        "table": f"TensorFlow {TABLE_TENSORFLOW_VERSION} runtime_version.cc, raised where "
        f"the wheels measured {measured.measured_on().split(',')[0]} register later",
        "known": not facts.unknown_ops,
        "unknown_ops": [{"name": op.name, "version": op.version} for op in facts.unknown_ops],
    }


RUNTIME_NAMES = ("tflite-runtime", "ai-edge-litert")
"""The runtimes whose releases were measured (edge_agent.runtime_measured)."""


def measured_json(facts: ModelFacts) -> dict[str, Any]:
    """Returns {measured_on, runs_on: {runtime: [releases that run it]}, problems:
    {release: [reasons]}} from the measured wheels (registrations and kernels)."""
    ops = [(op.name, op.version) for op in facts.ops]
    runs: dict[str, list[str]] = {name: [] for name in RUNTIME_NAMES}
    problems: dict[str, list[str]] = {}
    for name, version in measured.releases():
        release = measured.label(name, version)
        found = measured.check_release(release, ops, facts.kernels)
        if found.ok and not facts.flex_ops:
            runs.setdefault(name, []).append(version)
        elif not found.ok:
            problems[release] = found.reasons()
    return {"measured_on": measured.measured_on(), "runs_on": runs, "problems": problems}


def describe_measured(facts: ModelFacts) -> str:
    """Returns which measured releases run the model, for people: 'tflite-runtime 2.13.0
    and newer measured; ai-edge-litert 1.0.1 and newer measured', or 'none'."""
    runs = measured_json(facts)["runs_on"]
    parts = []
    for name in RUNTIME_NAMES:
        every = [v for n, v in measured.releases(name)]
        have = runs.get(name, [])
        if not have:
            parts.append(f"no {name}")
        elif have == every[len(every) - len(have) :]:
            parts.append(f"{name} {have[0]} and newer")
        else:
            parts.append(f"{name} {', '.join(have)}")
    return "; ".join(parts)


def describe_runtime(facts: ModelFacts) -> str:
    """Returns the min runtime for people: '2.17.0 (FULLY_CONNECTED v12)', with unknown ops."""
    version = facts.min_runtime_version or "unknown"
    if facts.unknown_ops:
        unknown = ", ".join(f"{op.name} v{op.version}" for op in facts.unknown_ops)
        return (
            f">= {version}, unknown for {unknown} (not in the TF {TABLE_TENSORFLOW_VERSION} table)"
        )
    if facts.min_runtime_set_by:
        return f"{version} ({facts.min_runtime_set_by})"
    return version


def _tensor_json(tensor: TensorInfo) -> dict[str, Any]:
    return {
        "name": tensor.name,
        "signature_name": tensor.signature_name,
        "shape": list(tensor.shape),
        "shape_signature": list(tensor.shape_signature or tensor.shape),
        "dtype": tensor.dtype,
        "quantization": tensor.quantization,
    }
