"""`tfstudio demo`: train the digits CNN, convert it in every mode, print the table."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tfstudio.cli.output import print_json


def register(subparsers: Any) -> None:
    """Adds the `demo` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="train a small digits CNN and convert it in every quantization mode",
        description=(
            "Train a CNN on scikit-learn's digits (no download), convert it to TFLite in "
            "every mode, score each variant on held-out digits and print the table."
        ),
    )
    parser.add_argument(
        "-o", "--outdir", help="where to write the model and variants (default: TFSTUDIO_HOME/demo)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Runs the demo and prints its table (or JSON); returns 0."""
    from pathlib import Path

    from tfstudio.cli.convert_cmd import print_progress, render_result
    from tfstudio.config import studio_home
    from tfstudio.demo import EPOCHS, run_demo

    outdir = Path(args.outdir) if args.outdir else studio_home() / "demo"
    print(f"training the digits CNN ({EPOCHS} epochs)...", file=sys.stderr, flush=True)
    demo = run_demo(outdir, progress=print_progress)
    if args.json:
        print_json(demo.to_json())
        return 0
    print(
        f"trained {demo.model_path.name} in {demo.train_seconds:.1f} s: "
        f"Keras test accuracy {100 * demo.keras_test_accuracy:.1f}%\n"
    )
    print(render_result(demo.conversion))
    int8 = demo.conversion.outdir / f"{demo.model_path.stem}.int8.tflite"
    # A newcomer's next step: the built-in `local` device needs no hardware.
    print(f"\nnext: tfstudio deploy {int8} --to local --bench")
    return 0
