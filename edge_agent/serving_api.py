"""TF Serving's REST API on the agent: paths, model names, versions and labels, status, metadata.

Paths are TF Serving's (the regexes of its `http_rest_api_util.cc`: case-insensitive,
the model name URL-decoded):

    GET  /v1/models/NAME[/versions/N|/labels/L]             status (GetModelStatus)
    GET  /v1/models/NAME[/versions/N|/labels/L]/metadata    metadata (GetModelMetadata)
    POST /v1/models/NAME[/versions/N|/labels/L]:predict     predict (see `predict`)

Any other /v1/ path is a malformed request (400), as in TF Serving; `:classify`
and `:regress` get TF Serving's 400 for a model with only a predict signature
(every .tflite model).

**Names.** A model's name is its manifest name (the name it was deployed under);
the stored models of one name are its versions. `default` names the whole store
whatever the names, so `/v1/models/default` always reaches what the device serves.

**Versions** are the store's numbers, given in install order (`versions`).

**Labels**: `stable` is the active model, `previous` the one `rollback` returns to;
a label exists on the name of the model it points at (and on `default`).

One version is loaded, the active one: it is AVAILABLE, every other stored
version END (stored, not loaded; activate it to serve it), as TF Serving shows a
version it unloaded; a version that failed to load is END with its error.
Metadata and predict reach the loaded version only; another gets TF Serving's
404 "Servable not found for request: Specific(NAME, N)".

The metadata is TF Serving's `GetModelMetadataResponse` (`model_spec`, and
`metadata.signature_def` with TensorInfo per input and output), plus
`metadata.tflite`: the model's sha256 (its provenance), labels, and each
tensor's TFLite dtype, shape and quantization (what a client needs to quantize
its input).

Errors are `ApiError(http_status, message)`, mapped as TF Serving maps them:
InvalidArgument → 400, NotFound → 404.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import unquote

import numpy as np

from edge_agent import fsutil, versions
from edge_agent.membudget import Reservation
from edge_agent.predict import BadRequest, Body, LoadedModel, predict
from edge_agent.signatures import Signature
from edge_agent.store import MANIFEST_FILE, Store

DEFAULT_NAME = "default"
PREDICT_METHOD = "tensorflow/serving/predict"

_POST = re.compile(
    r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:(classify|regress|predict)",
    re.IGNORECASE,
)
_GET = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:/versions/(\d+)|/labels/([^/:]+))?(?:/(metadata))?",
    re.IGNORECASE,
)
_INT64_MAX = 2**63 - 1

_DT = {
    "float16": "DT_HALF", "float32": "DT_FLOAT", "float64": "DT_DOUBLE",
    "int8": "DT_INT8", "int16": "DT_INT16", "int32": "DT_INT32", "int64": "DT_INT64",
    "uint8": "DT_UINT8", "uint16": "DT_UINT16", "uint32": "DT_UINT32", "uint64": "DT_UINT64",
    "bool": "DT_BOOL", "complex64": "DT_COMPLEX64", "complex128": "DT_COMPLEX128",
}  # fmt: skip


class ApiError(Exception):
    """A request TF Serving would refuse: `status` is the HTTP status, the message its error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Route:
    """What an API path asks for: kind (status, metadata, predict, classify, regress),
    the model name, and at most one of version and label."""

    kind: str
    name: str
    version: Optional[int] = None
    label: Optional[str] = None

    @property
    def endpoint(self) -> str:
        """The request's label in the server's metrics."""
        return self.kind if self.kind in ("status", "metadata", "predict") else "other"

    def servable(self) -> str:
        """TF Serving's words for the version asked for: Latest(NAME) or Specific(NAME, N)."""
        if self.version is None:
            return f"Latest({self.name})"
        return f"Specific({self.name}, {self.version})"


def route(method: str, path: str) -> Optional[Route]:
    """Returns the API route of `path`, or None for a path outside /v1/ (not found).

    Raises ApiError(400) for another /v1/ path, a model name missing or not
    URL-decodable, or a version past int64.
    """
    match = (_POST if method == "POST" else _GET).fullmatch(path)
    if match is None:
        if method in ("GET", "POST") and path.lower().startswith("/v1/"):
            raise ApiError(400, f"Malformed request: {method} {path}")
        return None
    raw_name, raw_version, raw_label, method_or_sub = match.groups()
    if not raw_name:
        raise ApiError(400, "Missing model name in request.")
    try:
        name = unquote(raw_name, errors="strict")
        label = unquote(raw_label, errors="strict") if raw_label else None
    except UnicodeDecodeError:
        raise ApiError(400, f"Failed to decode model name: {raw_name}") from None
    version = int(raw_version) if raw_version else None
    if version is not None and version > _INT64_MAX:
        raise ApiError(400, f"Failed to convert version: {raw_version} to numeric.")
    if method == "POST":
        kind = method_or_sub.lower()
    else:
        kind = "metadata" if method_or_sub else "status"
    return Route(kind, name, version, label)


@dataclass(frozen=True)
class Catalog:
    """The store as TF Serving sees it, read once for a request: names, versions, labels."""

    names: Dict[str, str]
    versions: Dict[str, int]
    labels: Dict[str, str]

    @classmethod
    def read(cls, store: Store) -> Catalog:
        """Reads the pointer and the manifests' names (no lock: both are replaced atomically)."""
        state = store.state()
        stored = store.stored()
        names = {}
        for sha in stored:
            manifest = fsutil.read_json(store.models_dir / sha / MANIFEST_FILE, default=None) or {}
            names[sha] = str(manifest.get("name") or sha[:12])
        return cls(names, store.versions(state), versions.labels(state, stored))

    def members(self, name: str) -> List[str]:
        """Returns the stored models of `name` (all of them for `default`), newest first."""
        shas = [s for s, n in self.names.items() if name == DEFAULT_NAME or n == name]
        return sorted(shas, key=lambda s: self.versions.get(s, 0), reverse=True)

    def labelled(self, route: Route) -> str:
        """Returns the sha256 the route's label names. Raises ApiError(400) for a label the
        model does not have, as TF Serving does."""
        sha = self.labels.get(route.label or "")
        if sha is None or sha not in self.members(route.name):
            raise ApiError(400, f"Unrecognized servable version label: {route.label}")
        return sha


def answer_get(
    route: Route, store: Store, loaded: LoadedModel, failed: Optional[Tuple[str, str]]
) -> Tuple[Dict[str, Any], Dict[str, str]]:
    """Returns (body, headers) of a status or metadata request. Raises ApiError."""
    catalog = Catalog.read(store)
    if route.kind == "status":
        return status_answer(route, catalog, loaded, failed), {}
    model = served(route, loaded, lambda: catalog)
    return metadata_answer(model, catalog), model_headers(model)


def answer_post(
    route: Route,
    body: Body,
    store: Store,
    loaded: LoadedModel,
    reservation: Reservation,
    on_invoke: Optional[Callable[[float], None]] = None,
) -> Tuple[List[bytes], Dict[str, str], int]:
    """Returns (the answer's text in chunks, headers, examples) of a predict request.
    Raises ApiError, BudgetTooBig or BudgetBusy; the runtime's own errors pass through
    (the server answers them with 500)."""
    model = served(route, loaded, lambda: Catalog.read(store))
    if route.kind != "predict":
        refuse_non_predict(route)
    try:
        text, examples = predict(model, body, reservation, on_invoke)
    except BadRequest as exc:
        raise ApiError(400, str(exc)) from None
    return text, model_headers(model), examples


def model_headers(model: LoadedModel) -> Dict[str, str]:
    """Which model answered: TF Serving's body has no room for it, headers do."""
    return {"X-Model-Version": str(model.version), "X-Model-Sha256": model.sha256}


def status_answer(
    route: Route, catalog: Catalog, loaded: LoadedModel, failed: Optional[Tuple[str, str]]
) -> Dict[str, Any]:
    """Returns TF Serving's GetModelStatusResponse for the route. Raises ApiError."""
    members = catalog.members(route.name)
    if not members:
        raise ApiError(404, f"Could not find any versions of model {route.name}")
    if route.version is not None:
        chosen = [s for s in members if catalog.versions.get(s) == route.version]
        if not chosen:
            raise ApiError(404, f"Could not find version {route.version} of model {route.name}")
    elif route.label is not None:
        chosen = [catalog.labelled(route)]
    else:
        chosen = members
    return {"model_version_status": [_version_status(s, catalog, loaded, failed) for s in chosen]}


def _version_status(
    sha: str, catalog: Catalog, loaded: LoadedModel, failed: Optional[Tuple[str, str]]
) -> Dict[str, Any]:
    status = {"error_code": "OK", "error_message": ""}
    if failed is not None and failed[0] == sha and loaded.sha256 != sha:
        status = {"error_code": "UNKNOWN", "error_message": failed[1]}
    return {
        "version": str(catalog.versions.get(sha, 0)),
        "state": "AVAILABLE" if sha == loaded.sha256 else "END",
        "status": status,
    }


def served(route: Route, loaded: LoadedModel, catalog: Callable[[], Catalog]) -> LoadedModel:
    """Returns the loaded model when the route names it; raises ApiError (404: another
    name or version, 400: an unknown label). `catalog` is read only for a label."""
    if route.name not in (DEFAULT_NAME, loaded.name):
        raise ApiError(404, f"Servable not found for request: {route.servable()}")
    if route.label is not None:
        known = catalog()
        sha = known.labelled(route)
        if sha != loaded.sha256:
            wanted = Route(route.kind, route.name, known.versions.get(sha, 0))
            raise ApiError(404, f"Servable not found for request: {wanted.servable()}")
    elif route.version is not None and route.version != loaded.version:
        raise ApiError(404, f"Servable not found for request: {route.servable()}")
    return loaded


def refuse_non_predict(route: Route) -> None:
    """Raises TF Serving's answer to :classify or :regress on a predict-only model (400)."""
    method = "classify" if route.kind == "classify" else "regress"
    noun = "classification" if method == "classify" else "regression"
    raise ApiError(
        400,
        f"Expected {noun} signature method_name to be tensorflow/serving/{method}. Was: "
        f"{PREDICT_METHOD} (a .tflite model answers :predict only)",
    )


def metadata_answer(model: LoadedModel, catalog: Catalog) -> Dict[str, Any]:
    """Returns TF Serving's GetModelMetadataResponse for the loaded model, with `tflite`."""
    return {
        "model_spec": {"name": model.name, "signature_name": "", "version": str(model.version)},
        "metadata": {
            "signature_def": {
                "signature_def": {key: _signature_def(sig) for key, sig in model.signatures.items()}
            },
            "tflite": {
                "sha256": model.sha256,
                "name": model.name,
                "version": str(model.version),
                "labels": versions.labels_of(model.sha256, catalog.labels),
                "signatures": {
                    key: {
                        "inputs": {n: _tflite_tensor(d) for n, d in sig.inputs.items()},
                        "outputs": {n: _tflite_tensor(d) for n, d in sig.outputs.items()},
                    }
                    for key, sig in model.signatures.items()
                },
            },
        },
    }


def _signature_def(sig: Signature) -> Dict[str, Any]:
    # The server splits any batch into the model's own when that is 1 (see `predict`):
    # for a client, such a signature takes any batch, TF Serving's -1.
    shapes = [d["shape"] for d in sig.inputs.values()]
    any_batch = bool(shapes) and all(len(s) and int(s[0]) == 1 for s in shapes)
    return {
        "inputs": {n: _tensor_info(d, any_batch) for n, d in sig.inputs.items()},
        "outputs": {n: _tensor_info(d, any_batch) for n, d in sig.outputs.items()},
        "method_name": PREDICT_METHOD,
    }


def _tensor_info(detail: Dict[str, Any], any_batch: bool) -> Dict[str, Any]:
    """Returns TF Serving's TensorInfo (as protobuf's JSON prints it: sizes as strings)."""
    shape = [int(d) for d in detail.get("shape_signature", detail["shape"])]
    if shape and any_batch:
        shape[0] = -1
    return {
        "dtype": dtype_name(detail["dtype"]),
        "tensor_shape": {
            "dim": [{"size": str(d), "name": ""} for d in shape],
            "unknown_rank": False,
        },
        "name": str(detail["name"]),
    }


def dtype_name(dtype: Any) -> str:
    """Returns TF's DataType name of a numpy dtype ("DT_FLOAT"; "DT_STRING" for bytes)."""
    kind = np.dtype(dtype)
    if kind.kind in "SOU":
        return "DT_STRING"
    return _DT.get(kind.name, "DT_INVALID")


def _tflite_tensor(detail: Dict[str, Any]) -> Dict[str, Any]:
    scale, zero = detail.get("quantization", (0.0, 0))
    kind = np.dtype(detail["dtype"])
    return {
        "tensor": str(detail["name"]),
        "dtype": "string" if kind.kind in "SOU" else kind.name,
        "shape": [int(x) for x in detail["shape"]],
        "quantization": {"scale": float(scale), "zero_point": int(zero)} if scale else None,
    }
