"""`tfstudio predict`: one real request to a device's agent server, through the tunnel.

The server answers as TF Serving does. The model's metadata comes first (one
GET on the same keep-alive stream): its signature's inputs and outputs by name,
and, beside TF Serving's `signature_def`, each tensor's TFLite dtype, shape and
quantization (`metadata.tflite`). So the input is checked against the model's
shape here, a single example gets its batch axis, float data for a quantized
input is quantized with the tensor's scale and zero point, and quantized
outputs come back in real units next to their raw values. A model with several
outputs gets each by its signature name. An agent from before TF Serving's
shapes (its metadata lists `inputs` and `outputs`) is read too. The answer is
the server's, unchanged, plus the round trip it took and which model gave it
(the server's `X-Model-Version` and `X-Model-Sha256` headers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfstudio.errors import RepresentativeDataError
from tfstudio.fleet.registry import Device
from tfstudio.formatting import human_bytes
from tfstudio.operations import CancelToken
from tfstudio.transport.base import Transport
from tfstudio.tunnel.channel import LoopbackHTTP, refusal

MODEL_PATH = "/v1/models/default"
DEFAULT_SIGNATURE = "serving_default"


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of the served signature, as the TFLite model has it."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    quantization: dict[str, Any] | None


@dataclass(frozen=True)
class ModelInterface:
    """What the metadata says: the default signature's tensors and the model's identity."""

    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    sha256: str | None
    version: str | None


def interface(meta: dict[str, Any]) -> ModelInterface:
    """Returns the served signature's tensors from a metadata answer (either agent's)."""
    metadata = meta.get("metadata") or {}
    tflite = metadata.get("tflite")
    if tflite is None:  # an agent before TF Serving's shapes: the version was the sha256
        return ModelInterface(
            [_spec(d["name"], d) for d in metadata.get("inputs", [])],
            [_spec(d["name"], d) for d in metadata.get("outputs", [])],
            (meta.get("model_spec") or {}).get("version"),
            None,
        )
    signatures = tflite.get("signatures") or {}
    signature: dict[str, Any] = signatures.get(DEFAULT_SIGNATURE) or next(
        iter(signatures.values()), {}
    )
    return ModelInterface(
        [_spec(n, d) for n, d in (signature.get("inputs") or {}).items()],
        [_spec(n, d) for n, d in (signature.get("outputs") or {}).items()],
        tflite.get("sha256"),
        str(tflite["version"]) if tflite.get("version") is not None else None,
    )


def _spec(name: str, detail: dict[str, Any]) -> TensorSpec:
    return TensorSpec(
        name,
        str(detail["dtype"]),
        tuple(int(d) for d in detail["shape"]),
        detail.get("quantization"),
    )


@dataclass(frozen=True)
class PredictResult:
    """One device's answer: predictions (raw and in real units), top-1, model, timings.

    With one output, `values` and `top1` hold it (per instance); with several,
    `outputs` holds each by name: {"values": [...], "top1": [...] or None}."""

    device: str
    model_version: str
    model_name: str | None
    instances: int
    predictions: Any
    values: list[Any] | None
    top1: list[int] | None
    round_trip_ms: float
    metadata_ms: float
    model_sha256: str | None = None
    outputs: dict[str, dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        """Returns every field (predictions as the server sent them); `outputs` only when
        the model has several."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        if self.outputs is None:
            del out["outputs"]
        return out


def prepare(x: np.ndarray, inputs: list[TensorSpec]) -> np.ndarray:
    """Returns `x` batched and in the model input's dtype; raises RepresentativeDataError
    (one line) when it does not fit the model's one input."""
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs)
        raise RepresentativeDataError(
            f"the model has {len(inputs)} inputs ({names}); --input gives one array"
        )
    spec = inputs[0]
    shape = spec.shape
    if tuple(x.shape) == shape[1:]:
        x = x[None, ...]
    if x.ndim != len(shape) or tuple(x.shape[1:]) != shape[1:]:
        per = ", ".join(str(d) for d in shape[1:])
        raise RepresentativeDataError(
            f"--input has shape {tuple(x.shape)}; the model takes (N, {per})"
        )
    if spec.dtype == "string":
        raise RepresentativeDataError("the model takes strings; --input gives numbers")
    dtype = np.dtype(spec.dtype)
    _check_values(x, dtype)
    quant = spec.quantization
    if x.dtype.kind == "f" and np.issubdtype(dtype, np.integer) and quant:
        info = np.iinfo(dtype)
        with np.errstate(over="ignore"):  # past the type's range is clipped to it below
            q = np.round(x.astype(np.float64) / quant["scale"] + quant["zero_point"])
        return np.clip(q, info.min, info.max).astype(dtype)
    if x.dtype.kind == "f" and np.issubdtype(dtype, np.integer):
        raise RepresentativeDataError(f"--input is {x.dtype}; the model takes {dtype} numbers")
    return x.astype(dtype)


def _check_values(x: np.ndarray, dtype: np.dtype) -> None:
    """Raises RepresentativeDataError (one line) for a value the model cannot take as it is:
    NaN or Infinity (the model would answer NaN, which reads as a prediction), a number
    past a float input's range (a cast would make it Infinity), an integer outside an
    integer input's range (a cast would wrap it)."""
    if x.dtype.kind == "f" and x.size and not np.isfinite(x).all():
        where = _first(~np.isfinite(x))
        raise RepresentativeDataError(
            f"--input holds {_word(float(x[where]))} at {list(where)}: a model takes finite numbers"
        )
    if dtype.kind == "f" and x.size and dtype.itemsize < x.dtype.itemsize:
        top = float(np.finfo(dtype).max)
        outside = np.abs(x.astype(np.float64)) > top
        if outside.any():
            where = _first(outside)
            raise RepresentativeDataError(
                f"--input holds {float(x[where]):g} at {list(where)}, past {dtype}'s range "
                f"(±{top:.4g}): the model takes {dtype} numbers"
            )
    if dtype.kind in "iu" and x.dtype.kind in "iu" and x.size:
        info = np.iinfo(dtype)
        outside = (x < info.min) | (x > info.max)
        if outside.any():
            where = _first(outside)
            raise RepresentativeDataError(
                f"--input holds {int(x[where])} at {list(where)}: the model takes {dtype} "
                f"numbers in [{info.min}, {info.max}]"
            )


def _first(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _word(value: float) -> str:
    if value != value:
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


BLOCK_VALUES = 1 << 14
"""Values turned into JSON at a time: the request is built without a Python list of it all."""


def request_body(batch: np.ndarray, limit: int | None, device: str) -> bytes:
    """Returns `{"instances": ...}` for the batch, floats as their shortest decimal.

    Raises RepresentativeDataError, before anything is sent, when the body would be
    larger than `limit` (the server's --max-body-bytes; None: unknown)."""
    n = int(batch.shape[0])
    per_row = max(1, int(np.prod(batch.shape[1:], dtype=np.int64)))
    if limit is not None and 2 * n * per_row > limit:  # each value takes 2 bytes at least
        _too_big(2 * n * per_row, limit, n, device)
    head, tail = b'{"instances": [', b"]}"
    parts, size = [head], len(head) + len(tail)
    step = max(1, BLOCK_VALUES // per_row)
    for start in range(0, n, step):
        block = batch[start : start + step]
        if block.dtype.kind == "f" and block.dtype.itemsize < 8:
            # float32's shortest decimal reads back as the same float32, in fewer bytes
            block = block.astype(str).astype(np.float64)
        text = (", " if start else "") + json.dumps(block.tolist())[1:-1]
        size += len(text)
        if limit is not None and size > limit:
            done = min(n, start + step)
            _too_big(size * n // done, limit, n, device)
        parts.append(text.encode())
    return b"".join([*parts, tail])


def _too_big(size: int, limit: int, n: int, device: str) -> None:
    fit = max(0, int(n * limit / size) - 1) if size else n
    raise RepresentativeDataError(
        f"--input makes a request of about {human_bytes(size)} ({n} instance"
        f"{'s' if n != 1 else ''}); the agent's server on {device} takes at most "
        f"{human_bytes(limit)} (its --max-body-bytes)",
        hint=f"send fewer instances at a time (about {fit} fit in one request)"
        if fit
        else "one instance of this model is larger than the server takes",
    )


def _real(rows: Any, spec: TensorSpec) -> tuple[list[Any] | None, list[int] | None]:
    """Returns one output's values in real units and each instance's top-1."""
    try:
        raw = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):  # null for a non-finite value, or strings
        return None, None
    quant = spec.quantization
    values = (raw - quant["zero_point"]) * quant["scale"] if quant else raw
    flat = values.reshape(values.shape[0], -1) if values.ndim else values.reshape(1, 1)
    return values.tolist(), [int(i) for i in flat.argmax(axis=1)]


def read_predictions(
    predictions: Any, outputs: list[TensorSpec]
) -> tuple[list[Any] | None, list[int] | None, dict[str, dict[str, Any]] | None]:
    """Returns (values, top1, None) for a one-output model, else (None, None, {name:
    {"values", "top1"}}) with top-1 only where an instance has more than one value."""
    if len(outputs) <= 1:
        if not outputs:
            return None, None, None
        values, top1 = _real(predictions, outputs[0])
        return values, top1, None
    by_name: dict[str, dict[str, Any]] = {}
    for spec in outputs:
        rows = [row.get(spec.name) if isinstance(row, dict) else None for row in predictions]
        values, top1 = _real(rows, spec)
        several = values is not None and np.asarray(values).size > len(rows)
        by_name[spec.name] = {
            "values": values if values is not None else rows,
            "top1": top1 if several else None,
        }
    return None, None, by_name


def predict_on(
    device: Device,
    transport: Transport,
    x: np.ndarray,
    *,
    timeout: float = 60.0,
    cancel: CancelToken | None = None,
) -> PredictResult:
    """Sends `x` to the device's server through the tunnel; returns its answer.

    Raises DeviceError (no server), RepresentativeDataError (the input does not
    fit), TransportError (the server refused or could not be reached).
    """
    from tfstudio.fleet.service import endpoint

    found = endpoint(device, transport, cancel)
    http = LoopbackHTTP(transport, found.port, found.token, timeout)
    try:
        answer = http.request("GET", MODEL_PATH + "/metadata")
        if answer.status != 200:
            raise refusal(answer, device.name)
        model = interface(answer.json())
        batch = prepare(x, model.inputs)
        body = request_body(batch, found.max_body_bytes, device.name)
        reply = http.request("POST", MODEL_PATH + ":predict", body)
        del body
        if reply.status != 200:
            raise refusal(reply, device.name)
        data = reply.json()
    finally:
        http.close()
    values, top1, outputs = read_predictions(data["predictions"], model.outputs)
    sha = reply.headers.get("x-model-sha256") or model.sha256
    version = reply.headers.get("x-model-version") or model.version or data.get("model_version")
    return PredictResult(
        device=device.name,
        model_version=str(version),
        model_name=(found.service.active or {}).get("name"),
        instances=int(batch.shape[0]),
        predictions=data["predictions"],
        values=values,
        top1=top1,
        round_trip_ms=round(reply.elapsed_ms, 3),
        metadata_ms=round(answer.elapsed_ms, 3),
        model_sha256=sha,
        outputs=outputs,
    )
