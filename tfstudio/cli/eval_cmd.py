"""`tfstudio eval MODEL --on NAMES --eval-data data.npz [--json]`: accuracy on the device itself.

The data goes to each device by hash (sent once), the agent scores the model
with the device's own runtime, and the studio puts it beside the host's
figure, flagging a difference beyond `--tolerance` as runtime drift. Exits 1
when a device could not evaluate, 3 when any device drifted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfstudio.cli.grammar import add_where
from tfstudio.cli.output import add_json, print_table, show

if TYPE_CHECKING:
    from tfstudio.studio.types import EvalRun

EXIT_DRIFT = 3


def register(subparsers: Any) -> None:
    """Adds `eval`."""
    parser = subparsers.add_parser("eval", help="accuracy of a model on devices' own runtimes")
    parser.add_argument("model", type=Path, metavar="MODEL.tflite")
    add_where(parser, required=True, help="the devices to evaluate on: names or all")
    parser.add_argument(
        "--eval-data",
        type=Path,
        required=True,
        metavar="DATA.npz",
        help=".npz with x and labels y (or .npy/.npz without y: compared to "
        "the float model's outputs)",
    )
    parser.add_argument(
        "--reference",
        type=Path,
        metavar="FLOAT.tflite",
        help="the float model for data without labels (default: the float32 variant beside MODEL)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.01,
        help="host/device difference flagged as drift (default 0.01)",
    )
    add_json(parser)
    parser.set_defaults(handler=_eval)


def _fmt(value: float | None) -> str | None:
    return None if value is None else f"{value:.4f}"


def _eval(args: argparse.Namespace) -> int:
    from tfstudio.cli.studio_cli import cli_studio

    studio = cli_studio()
    run = studio.evaluate(
        args.model,
        studio.resolve(args.on),
        args.eval_data,
        reference=args.reference,
        tolerance=args.tolerance,
    )
    show(args, run, lambda r: _print_run(r, args.model.name))
    failed = [o.device for o in run.outcomes if not o.ok]
    drifted = [o.device for o in run.outcomes if o.drift]
    if failed:
        print(f"tfstudio: error: eval failed on: {', '.join(failed)}", file=sys.stderr)
        return 1
    if drifted:
        print(f"tfstudio: runtime drift on: {', '.join(drifted)}", file=sys.stderr)
        return EXIT_DRIFT
    return 0


def _print_run(run: EvalRun, model: str) -> None:
    kind = "accuracy" if run.data.labelled else "agreement"
    host = run.host
    where = host.source if host else "none"
    print(
        f"{model} on {run.data.samples} samples; host {kind} ({where}): "
        f"{_fmt(host.score) if host else run.host_missing}"
    )
    rows = []
    for o in run.outcomes:
        f = o.figures
        rows.append(
            [
                o.device,
                _fmt(f.score) if f else None,
                _fmt(o.host_agreement),
                f.runtime if f else None,
                f.per_sample_ms if f else None,
                ("DRIFT" if o.drift else "ok") if o.ok else (o.code or "error"),
            ]
        )
    print_table(["device", kind, "same_top1", "runtime", "ms/sample", "result"], rows)
    for o in run.outcomes:
        for reason in o.drift_reasons:
            print(f"{o.device}: runtime drift: {reason}", file=sys.stderr)
        if o.error:
            print(o.error + (f" ({o.hint})" if o.hint else ""), file=sys.stderr)
