"""A model's signatures as TF Serving names them: inputs and outputs by signature name.

The converter keeps the SavedModel's signature defs in the .tflite, and LiteRT
reads them: `get_signature_list()` gives each signature key ("serving_default")
with its input and output names ("x"; "output_0", "output_1"), and
`get_signature_runner(key)` each name's tensor. Tensor names are no names to
answer by: TF 2.21's converter calls both outputs of a two-headed model
`StatefulPartitionedCall_1:…`, so requests and answers use signature names only.

A model without signature defs (an old converter, a hand-built flatbuffer) gets
one, `serving_default`, named after its tensors ("serving_default_x:0" → "x"),
with `input_N`/`output_N` where those names are not unique.

A signature on the model's first subgraph (every converted Keras model) is run
with the interpreter's own `set_tensor`/`invoke`/`get_tensor`, so the invoke is
timed alone; one on another subgraph through its signature runner. Both exist
in every runtime the agent supports (tflite-runtime 2.14 included).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import numpy as np

DEFAULT_KEY = "serving_default"


@dataclass(frozen=True)
class Signature:
    """One signature: its key, its inputs and outputs by name (tensor details), how it runs."""

    key: str
    inputs: Dict[str, Dict[str, Any]]
    outputs: Dict[str, Dict[str, Any]]
    runner: Any = None
    """The runtime's signature runner; None when the signature is the first subgraph's."""

    def run(
        self,
        interpreter: Any,
        values: Dict[str, np.ndarray],
        on_invoke: Optional[Callable[[float], None]] = None,
    ) -> Dict[str, np.ndarray]:
        """Runs one invoke on `values` (by input name, in the tensors' dtypes and shapes);
        returns copies of the outputs by name. The caller holds the model's lock."""
        if self.runner is not None:
            started = time.perf_counter()
            out = self.runner(**values)
            if on_invoke is not None:
                on_invoke(time.perf_counter() - started)
            return {name: np.asarray(out[name]) for name in self.outputs}
        for name, detail in self.inputs.items():
            interpreter.set_tensor(detail["index"], values[name])
        started = time.perf_counter()
        interpreter.invoke()
        if on_invoke is not None:
            on_invoke(time.perf_counter() - started)
        return {name: interpreter.get_tensor(d["index"]).copy() for name, d in self.outputs.items()}


def short_name(tensor_name: str) -> str:
    """'serving_default_x:0' → 'x'."""
    base = tensor_name.split(":")[0]
    prefix = DEFAULT_KEY + "_"
    return base[len(prefix) :] if base.startswith(prefix) else base


def read_signatures(interpreter: Any) -> Dict[str, Signature]:
    """Returns the model's signatures by key (at least one: see the module docstring)."""
    try:
        keys = list(interpreter.get_signature_list())
    except (AttributeError, RuntimeError, ValueError):
        keys = []
    primary_in = {int(d["index"]) for d in interpreter.get_input_details()}
    primary_out = {int(d["index"]) for d in interpreter.get_output_details()}
    found: Dict[str, Signature] = {}
    for key in keys:
        try:
            runner = interpreter.get_signature_runner(key)
            inputs = dict(sorted(runner.get_input_details().items()))
            outputs = dict(sorted(runner.get_output_details().items()))
        except (AttributeError, RuntimeError, ValueError):
            continue  # a runtime without runners' details: named after tensors below
        primary = {int(d["index"]) for d in inputs.values()} == primary_in and {
            int(d["index"]) for d in outputs.values()
        } == primary_out
        found[key] = Signature(key, inputs, outputs, None if primary else runner)
    if not found:
        found[DEFAULT_KEY] = Signature(
            DEFAULT_KEY,
            _by_tensor_names(interpreter.get_input_details(), "input"),
            _by_tensor_names(interpreter.get_output_details(), "output"),
        )
    return found


def _by_tensor_names(details: List[Dict[str, Any]], kind: str) -> Dict[str, Dict[str, Any]]:
    names = [short_name(d["name"]) for d in details]
    if len(set(names)) != len(names) or not all(names):
        names = [f"{kind}_{i}" for i in range(len(details))]
    return dict(zip(names, details))


def default_key(signatures: Dict[str, Signature]) -> str:
    """Returns the key a request without `signature_name` uses: serving_default, else the
    model's only (or first) signature."""
    return DEFAULT_KEY if DEFAULT_KEY in signatures else next(iter(signatures))
