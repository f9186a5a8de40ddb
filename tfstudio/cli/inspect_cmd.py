"""`tfstudio inspect MODEL.tflite`: what a .tflite file says about itself.

Reads the flatbuffer with `tfstudio.modelinfo` (no tensorflow, no runtime).
"""

from __future__ import annotations

import argparse
from typing import Any

from tfstudio.cli.output import human_bytes, print_json, render_table


def register(subparsers: Any) -> None:
    """Adds the `inspect` subcommand."""
    parser = subparsers.add_parser(
        "inspect",
        help="show a .tflite model's size, digest, min runtime, ops and tensors",
        description="Read a .tflite file without TensorFlow and print its facts.",
    )
    parser.add_argument("model", metavar="MODEL.tflite", help="the .tflite file")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Prints the model's facts; returns 0. ModelFormatError propagates to main."""
    from tfstudio.modelinfo import facts_to_json, inspect_model

    facts = inspect_model(args.model)
    info = facts_to_json(facts, args.model)
    if args.json:
        print_json(info)
        return 0
    print(f"model:        {args.model}")
    print(f"size:         {human_bytes(facts.size_bytes)} ({facts.size_bytes} bytes)")
    print(f"sha256:       {facts.sha256}")
    print(f"min runtime:  {facts.min_runtime_version or 'unknown'}")
    print(f"schema:       v{facts.schema_version}, {facts.subgraphs} subgraph(s)")
    for kind in ("inputs", "outputs"):
        print(f"\n{kind}:")
        print(
            render_table(
                ["name", "shape", "dtype", "scale", "zero point"],
                [_tensor_row(t) for t in info[kind]],
            )
        )
    print("\noperators:")
    print(
        render_table(["op", "version", "count"], [[o.name, o.version, o.count] for o in facts.ops])
    )
    return 0


def _tensor_row(tensor: dict[str, Any]) -> list[Any]:
    quant = tensor["quantization"]
    scale = zero = "-"
    if quant:
        scales, zeros = quant["scale"], quant["zero_point"]
        scale = f"{scales[0]:.6g}" if len(scales) == 1 else f"{len(scales)} per-channel"
        zero = str(zeros[0]) if len(zeros) == 1 else "per-channel"
    shape = "[" + ", ".join(str(d) for d in tensor["shape"]) + "]"
    return [tensor["name"], shape, tensor["dtype"], scale, zero]
