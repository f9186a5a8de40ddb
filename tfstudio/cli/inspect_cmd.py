"""`tfstudio inspect MODEL.tflite`: what a .tflite file says about itself.

Reads the flatbuffer with `tfstudio.models.facts` (no tensorflow, no runtime).
"""

from __future__ import annotations

import argparse
from typing import Any

from tfstudio.cli.output import add_json, human_bytes, print_json, print_table, wants_json


def register(subparsers: Any) -> None:
    """Adds the `inspect` subcommand."""
    parser = subparsers.add_parser(
        "inspect",
        help="show a .tflite model's size, digest, min runtime, ops, tensors and subgraphs",
        description=(
            "Read a .tflite file without TensorFlow and print its facts. The min runtime is "
            "computed from every op of every subgraph (and the model's own metadata)."
        ),
    )
    parser.add_argument("model", metavar="MODEL.tflite", help="the .tflite file")
    add_json(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Prints the model's facts; returns 0. ModelFormatError propagates to main."""
    from tfstudio.cli.studio_cli import cli_studio
    from tfstudio.studio.types import describe_measured, describe_runtime, facts_to_json

    facts = cli_studio().inspect(args.model)
    info = facts_to_json(facts, args.model)
    if wants_json(args):
        print_json(info)
        return 0
    print(f"model:        {args.model}")
    print(f"size:         {human_bytes(facts.size_bytes)} ({facts.size_bytes} bytes)")
    print(f"sha256:       {facts.sha256}")
    print(f"min runtime:  {describe_runtime(facts)}")
    claimed = facts.metadata_min_runtime_version
    if claimed != facts.min_runtime_version:
        print(f"              (its metadata claims {claimed or 'nothing'}; the ops need more)")
    print(f"runs on:      {describe_measured(facts)}")
    print(f"              (of the wheels measured {info['measured']['measured_on']}: op versions "
          "registered and kernels run)")  # fmt: skip
    for release, reasons in info["measured"]["problems"].items():
        if release in _NEWEST:
            print(f"              {release}: {'; '.join(reasons)}")
    if facts.flex_ops:
        print(
            f"flex ops:     {', '.join(facts.flex_ops)}: needs a runtime with the Flex "
            "delegate (full tensorflow); ai-edge-litert and tflite-runtime cannot run it"
        )
    if facts.custom_ops:
        print(f"custom ops:   {', '.join(facts.custom_ops)}: the runtime must register them")
    count = len(facts.subgraphs)
    print(f"schema:       v{facts.schema_version}, {count} subgraph{'s' if count != 1 else ''}")
    for kind in ("inputs", "outputs"):
        print(f"\n{kind}:")
        headers = ["name", "signature name", "shape", "shape signature", "dtype", "scale",
                   "zero point"]  # fmt: skip
        print_table(headers, [_tensor_row(t) for t in info[kind]])
    print("\nsubgraphs:")
    print_table(
        ["#", "name", "operators", "tensors", "inputs", "outputs"],
        [[g.index, g.name or "-", g.operators, g.tensors, g.inputs, g.outputs]
         for g in facts.subgraphs],
    )  # fmt: skip
    if facts.signatures:
        print("\nsignatures:")
    for sig in facts.signatures:
        print(
            f"{sig.key} (subgraph {sig.subgraph}): inputs {', '.join(sig.inputs)}; "
            f"outputs {', '.join(sig.outputs)}"
        )
    print("\noperators (counted over every subgraph):")
    print_table(
        ["op", "version", "count", "min runtime", "first tflite-runtime", "first ai-edge-litert"],
        [[o["name"], o["version"], o["count"], _op_runtime(o),
          o["first_release"]["tflite-runtime"] or "-",
          o["first_release"]["ai-edge-litert"] or "-"] for o in info["ops"]],
    )  # fmt: skip
    return 0


_NEWEST = ("tflite-runtime 2.14.0", "ai-edge-litert 2.3.0")
"""The releases whose problems `inspect` spells out: the last of each runtime measured."""


def _op_runtime(op: dict[str, Any]) -> str:
    if op["min_runtime"]:
        return str(op["min_runtime"])
    if op["name"].startswith("CUSTOM:Flex"):
        return "Flex delegate"
    return "custom" if op["name"].startswith("CUSTOM:") else "unknown"


def _dims(dims: list[int], dynamic: str = "?") -> str:
    return "[" + ", ".join(dynamic if d < 0 else str(d) for d in dims) + "]"


def _tensor_row(tensor: dict[str, Any]) -> list[Any]:
    quant = tensor["quantization"]
    scale = zero = "-"
    if quant:
        scales, zeros = quant["scale"], quant["zero_point"]
        scale = f"{scales[0]:.6g}" if len(scales) == 1 else f"{len(scales)} per-channel"
        zero = str(zeros[0]) if len(zeros) == 1 else "per-channel"
    return [
        tensor["name"],
        tensor["signature_name"] or "-",
        _dims(tensor["shape"]),
        _dims(tensor["shape_signature"]),
        tensor["dtype"],
        scale,
        zero,
    ]
