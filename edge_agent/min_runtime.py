"""The oldest runtime a model can run on, computed from its ops rather than trusted.

The converter writes a `min_runtime_version` into each model's metadata, but it
can be stale (an int16x8 model holding CONV_2D v3 claims 1.11.0) and it skips
op versions it does not know. Here the need is the maximum of the metadata and
of `op_runtime_table` over every operator code of every subgraph, and an
(op, version) missing from the table is reported as unknown instead of being
treated as old. Runtime versions are in TensorFlow's numbering (see
`runtime_meta.LITERT_COMPAT` for ai-edge-litert releases).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, List, Optional, Tuple

from edge_agent.op_runtime_table import OP_RUNTIME_VERSIONS, TABLE_TENSORFLOW_VERSION
from edge_agent.runtime_meta import parse_version

__all__ = [
    "TABLE_TENSORFLOW_VERSION",
    "RuntimeNeed",
    "is_custom",
    "is_flex",
    "op_runtime",
    "parse_version",
    "runtime_need",
]

METADATA = "metadata"
"""`RuntimeNeed.set_by` when the model's own metadata asks for more than its ops."""


@dataclass(frozen=True)
class RuntimeNeed:
    """What runtime a model needs and why.

    `version` is max(table over known ops, metadata), None when neither says
    anything; `set_by` names what sets it ("FULLY_CONNECTED v12" or
    "metadata"); `unknown_ops` lists builtin (name, version) pairs missing from
    the table, for which the need cannot be known.
    """

    version: Optional[str]
    set_by: Optional[str]
    metadata_version: Optional[str]
    unknown_ops: List[Tuple[str, int]] = field(default_factory=list)

    @property
    def known(self) -> bool:
        """True when every builtin op version is in the table."""
        return not self.unknown_ops


def is_custom(name: str) -> bool:
    """True for a custom op code (the schema reader names them 'CUSTOM:<code>')."""
    return name.startswith("CUSTOM:")


def is_flex(name: str) -> bool:
    """True for a TensorFlow (Flex) op: a custom op whose code starts with 'Flex'."""
    return name.startswith("CUSTOM:Flex")


def op_runtime(name: str, version: int) -> Optional[str]:
    """Returns the oldest runtime with a kernel for builtin `name` v`version` (None: unknown)."""
    return OP_RUNTIME_VERSIONS.get(name, {}).get(int(version))


def runtime_need(ops: Iterable[Tuple[str, int]], metadata_version: Optional[str]) -> RuntimeNeed:
    """Returns the RuntimeNeed of a model's operator codes `(name, version)` and its metadata.

    Custom ops (Flex included) are skipped: no runtime version implies them.
    """
    best: Optional[str] = None
    set_by: Optional[str] = None
    unknown: List[Tuple[str, int]] = []
    for name, version in ops:
        if is_custom(name):
            continue
        needed = op_runtime(name, version)
        if needed is None:
            if (name, version) not in unknown:
                unknown.append((name, version))
            continue
        if best is None or parse_version(needed) > parse_version(best):
            best, set_by = needed, f"{name} v{version}"
    if metadata_version and (best is None or parse_version(metadata_version) > parse_version(best)):
        best, set_by = metadata_version, METADATA
    return RuntimeNeed(best, set_by, metadata_version, unknown)
