"""`tfstudio demo`: the whole studio end to end on the digits CNN, in one table.

Train (in a container when the local engine has the TensorFlow image, else in
this process), export the SavedModel, convert to every mode, deploy each
variant to a device (the built-in `local` one by default), bench each there,
and print mode, size, accuracy, p50, p99 and min runtime, with each stage's
time. Progress goes to stderr; the table (or `--json`'s document) to stdout.
Exit code 1 when any mode failed a step (its row says which and why).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tfstudio.cli.grammar import add_where
from tfstudio.cli.output import add_json, render_table, show


def register(subparsers: Any) -> None:
    """Adds the `demo` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="train, convert, deploy and bench a digits CNN end to end (no download)",
        description=(
            "Train a CNN on scikit-learn's digits (no download) in a container of the "
            "TensorFlow image when the local Docker Engine has it, else in this process; "
            "export the SavedModel; convert it to TFLite in every mode; deploy each variant "
            "to a device (the built-in `local` by default) and bench it there; print one "
            "table: mode, size, accuracy, p50, p99, min runtime."
        ),
    )
    parser.add_argument(
        "-o", "--outdir", help="where to write the data, model and variants (default: HOME/demo)"
    )
    parser.add_argument(
        "--train-in",
        choices=("auto", "container", "process"),
        default="auto",
        help="where to train: a container of the TensorFlow image, this process, or auto "
        "(the container when the local engine has the image; default)",
    )
    parser.add_argument(
        "--image",
        help="the pinned TensorFlow image to train in (default: [training] image, else "
        "tfstudio-local/tensorflow:2.21.0-cpu)",
    )
    add_where(
        parser, "--device", default="local", one=True, help="the device to deploy to and bench on"
    )
    add_json(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Runs the demo and prints its table (or JSON); returns 0, or 1 when a row failed."""
    from tfstudio.studio import Studio
    from tfstudio.workflows.demo.pipeline import DemoOptions, run_demo
    from tfstudio.workflows.demo.training import TrainIn

    studio = Studio()
    options = DemoOptions(TrainIn(args.train_in), args.image, args.on)
    try:
        report = run_demo(studio, args.outdir, options, on_event=_progress)
    finally:
        studio.close()
    show(args, report.to_json(), lambda _: print(render_report(report)))
    return 0 if report.ok else 1


def render_report(report: Any) -> str:
    """Returns the demo's text: where it trained, the table, the stage times, what next."""
    from tfstudio.formatting import percent
    from tfstudio.workflows.demo.report import COLUMNS

    training = report.training
    lines = [
        training.line(),
        f"SavedModel {training.saved_model} (sha256 {training.saved_model_sha256[:16]})",
        f"float accuracy {percent(report.float_accuracy)} on the held-out digits; "
        f"deployed to and benched on {report.device}",
        "",
        render_table(COLUMNS, report.table()),
        "",
        f"stages: {report.stage_line()}",
        f"outputs in {report.outdir}",
    ]
    hints = [f"  {r.mode}: {r.hint}" for r in report.rows if not r.ok and r.hint]
    if hints:
        lines += ["fixes:", *hints]
    lines.append(
        'next: add your own device (docs/guide.md: "Add a device over SSH"), then '
        "tfstudio demo --on NAME"
    )
    return "\n".join(lines)


def _progress(event: Any) -> None:
    """Prints the demo's stages and the conversion's modes, one line each, on stderr."""
    from tfstudio.operations import StageStarted, TargetFinished

    if event.operation == "demo":
        if isinstance(event, StageStarted):
            print(f"[{event.index}/{event.total}] {event.message}...", file=sys.stderr)
        elif isinstance(event, TargetFinished):
            seconds = event.data.get("seconds", 0.0)
            state = "done" if event.ok else "FAILED"
            print(
                f"      {event.target} {state} in {seconds:.1f} s: {event.message}", file=sys.stderr
            )
    elif isinstance(event, TargetFinished) and event.operation in ("convert", "demo-step"):
        print(f"      {event.target}: {event.message}", file=sys.stderr)
    sys.stderr.flush()
