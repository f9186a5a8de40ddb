"""`tfstudio predict`: one real request to a device's agent server, through the tunnel.

The model's metadata comes first (one GET on the same keep-alive stream), so
the input is checked against the model's shape here, a single example gets
its batch axis, float data for a quantized input is quantized with the
tensor's scale and zero point, and quantized outputs come back in real units
next to their raw values. The answer is the server's, unchanged, plus the
round trip it took.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfstudio.errors import RepresentativeDataError
from tfstudio.fleet.registry import Device
from tfstudio.operations import CancelToken
from tfstudio.transport.base import Transport
from tfstudio.tunnel.channel import LoopbackHTTP, refusal

MODEL_PATH = "/v1/models/default"


@dataclass(frozen=True)
class PredictResult:
    """One device's answer: predictions (raw and in real units), top-1, model, timings."""

    device: str
    model_version: str
    model_name: str | None
    instances: int
    predictions: Any
    values: list[Any] | None
    top1: list[int] | None
    round_trip_ms: float
    metadata_ms: float

    def to_json(self) -> dict[str, Any]:
        """Returns every field (predictions as the server sent them)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def prepare(x: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    """Returns `x` batched and in the model input's dtype; raises RepresentativeDataError
    (one line) when it does not fit the model's one input."""
    inputs = meta["inputs"]
    if len(inputs) != 1:
        names = ", ".join(i["name"] for i in inputs)
        raise RepresentativeDataError(
            f"the model has {len(inputs)} inputs ({names}); --input gives one array"
        )
    spec = inputs[0]
    shape = tuple(int(d) for d in spec["shape"])
    if tuple(x.shape) == shape[1:]:
        x = x[None, ...]
    if x.ndim != len(shape) or tuple(x.shape[1:]) != shape[1:]:
        per = ", ".join(str(d) for d in shape[1:])
        raise RepresentativeDataError(
            f"--input has shape {tuple(x.shape)}; the model takes (N, {per})"
        )
    dtype = np.dtype(spec["dtype"])
    quant = spec.get("quantization")
    if x.dtype.kind == "f" and np.issubdtype(dtype, np.integer) and quant:
        info = np.iinfo(dtype)
        q = np.round(x.astype(np.float64) / quant["scale"] + quant["zero_point"])
        return np.clip(q, info.min, info.max).astype(dtype)
    if x.dtype.kind == "f" and np.issubdtype(dtype, np.integer):
        raise RepresentativeDataError(f"--input is {x.dtype}; the model takes {dtype} numbers")
    return x.astype(dtype)


def _real(predictions: Any, meta: dict[str, Any]) -> tuple[list[Any] | None, list[int] | None]:
    outputs = meta["outputs"]
    if len(outputs) != 1:
        return None, None
    quant = outputs[0].get("quantization")
    try:
        raw = np.asarray(predictions, dtype=np.float64)
    except (TypeError, ValueError):  # null for a non-finite value
        return None, None
    values = (raw - quant["zero_point"]) * quant["scale"] if quant else raw
    flat = values.reshape(values.shape[0], -1) if values.ndim else values.reshape(1, 1)
    return values.tolist(), [int(i) for i in flat.argmax(axis=1)]


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
        meta = answer.json()["metadata"]
        batch = prepare(x, meta)
        body = json.dumps({"instances": batch.tolist()}).encode()
        reply = http.request("POST", MODEL_PATH + ":predict", body)
        if reply.status != 200:
            raise refusal(reply, device.name)
        data = reply.json()
    finally:
        http.close()
    values, top1 = _real(data["predictions"], meta)
    return PredictResult(
        device=device.name,
        model_version=str(data.get("model_version")),
        model_name=(found.service.active or {}).get("name"),
        instances=int(batch.shape[0]),
        predictions=data["predictions"],
        values=values,
        top1=top1,
        round_trip_ms=round(reply.elapsed_ms, 3),
        metadata_ms=round(answer.elapsed_ms, 3),
    )
