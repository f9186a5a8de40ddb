"""Turns runtime answers into the measured table: registrations and kernel failures.

Pure functions over what `tfstudio.compat.runner.run_models` answered for the
registration carriers and the zoo on one runtime; no TensorFlow, no runtime.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from edge_agent.tflite_schema import read_model_facts
from scripts.runtime_probe.carriers import Carrier
from scripts.runtime_probe.zoo import ZooModel
from tfstudio.compat.proofs import short_reason

_NOT_REGISTERED = ("Didn't find op for builtin opcode", "Op builtin_code out of range")
_NODE = re.compile(r"Node number (\d+) \(([A-Za-z0-9_]+)\) failed to (prepare|invoke)")


def not_registered(answer: dict[str, Any]) -> bool:
    """True when the runtime refused a model for an op (version) it does not register."""
    return not answer.get("ok") and any(m in str(answer.get("error")) for m in _NOT_REGISTERED)


def registrations(carriers: Sequence[Carrier], answers: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Returns {op: highest version} of the runtime's registrations, or {op: [versions]}
    where they are not 1..highest. Raises ValueError for an answer that is neither."""
    versions: dict[str, list[int]] = {}
    for carrier, answer in zip(carriers, answers):
        if answer.get("ok"):
            versions.setdefault(carrier.op, []).append(carrier.version)
        elif not not_registered(answer):
            raise ValueError(f"{carrier.path.name}: unexpected answer {answer}")
    table: dict[str, Any] = {}
    for op, found in sorted(versions.items()):
        found.sort()
        table[op] = found[-1] if found == list(range(1, found[-1] + 1)) else found
    return table


def clean_message(text: str) -> str:
    """The runtime's reason without source paths, node numbers and delegate noise."""
    return short_reason(text)


def kernel_results(
    models: Sequence[ZooModel], answers: Sequence[dict[str, Any]]
) -> tuple[set[str], dict[str, str], list[str]]:
    """Returns (kernels that ran, {kernel: the runtime's reason} of those that did not,
    notes on failures that name no kernel). Registration refusals count as neither:
    the op version is not there, the registration table says so."""
    ran: set[str] = set()
    failed: dict[str, str] = {}
    notes: list[str] = []
    for model, answer in zip(models, answers):
        facts = read_model_facts(model.path)
        if answer.get("ok"):
            ran.update(facts.kernels)
            continue
        if not_registered(answer):
            continue
        error = str(answer.get("error", ""))
        culprit = _culprit(facts, error, model.family)
        if culprit is None:
            notes.append(f"{model.path.name}: {answer.get('stage')}: {clean_message(error)}")
            continue
        failed.setdefault(culprit, f"{answer.get('stage')}: {clean_message(error)}")
    # A kernel that ran in another model failed there for its data, not its types.
    return ran, {k: v for k, v in failed.items() if k not in ran}, notes


def _culprit(facts: Any, error: str, family: str) -> str | None:
    """The kernel a failure is pinned on: the node the runtime names; else, when it names
    none or a delegate's node (XNNPACK runs the ops it took as one node), the one kernel of
    the op the carrier is built around."""
    kernels = facts.subgraphs[0].kernels if facts.subgraphs else []
    match = _NODE.search(error)
    if match:
        index, op = int(match.group(1)), match.group(2)
        if index < len(kernels) and kernels[index].startswith(op + "("):
            return str(kernels[index])
        named = [k for k in kernels if k.startswith(op + "(")]
        if named:
            return str(named[0])
    own = [k for k in kernels if k.startswith(family + "(")]
    return own[0] if len(own) == 1 else None
