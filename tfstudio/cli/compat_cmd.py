"""`tfstudio compat MODEL --runtime NAME==VERSION ...`: prove models on real runtime releases.

Parsing and printing only; the work is `Studio.compat` (venvs per release, proofs kept
by model sha256, the measured table's word beside each).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from tfstudio.cli.output import add_json, print_table, show
from tfstudio.operations import Event, StageStarted, TargetFinished

if TYPE_CHECKING:
    from tfstudio.studio.types import CompatResult


def register(subparsers: Any) -> None:
    """Adds the `compat` subcommand."""
    parser = subparsers.add_parser(
        "compat",
        help="prove .tflite models on named LiteRT runtime releases (a venv per release)",
        description=(
            "Load, allocate and invoke each model on each runtime release, in a venv built "
            "once per release from the package index (TFSTUDIO_RUNTIMES, else "
            "$TFSTUDIO_HOME/runtimes). Proofs are kept by the model's sha256: the next "
            "compat reads them, and deploy's preflight trusts one for the device's exact "
            "runtime over any table. Exit 0 when every model ran on every runtime."
        ),
    )
    parser.add_argument("models", nargs="+", metavar="MODEL.tflite", help="the models")
    parser.add_argument(
        "--runtime",
        action="append",
        required=True,
        metavar="NAME==VERSION",
        help="a runtime release, e.g. tflite-runtime==2.14.0 or ai-edge-litert==2.3.0 "
        "(repeat for several)",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="run again instead of reading kept proofs"
    )
    add_json(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Proves and prints the matrix; returns 0 when every model ran everywhere, else 1."""
    from tfstudio.cli.studio_cli import cli_studio

    result = cli_studio().compat(args.models, args.runtime, fresh=args.fresh, on_event=_progress)
    show(args, result, _print)
    return 0 if result.ok else 1


def _progress(event: Event) -> None:
    if isinstance(event, StageStarted):
        print(f"{event.target}: {event.message}...", file=sys.stderr, flush=True)
    elif isinstance(event, TargetFinished) and not event.ok:
        print(f"{event.target}: {event.message}", file=sys.stderr, flush=True)


def _print(result: CompatResult) -> None:
    several = len({row.model for row in result.rows}) > 1
    headers = ["model"] * several + ["runtime", "result", "load ms", "invoke ms", "proof",
                                     "measured table"]  # fmt: skip
    rows = []
    for row in result.rows:
        proof = row.proof
        if proof is None:
            outcome, when = f"not proven: {row.error}", "-"
        else:
            outcome = "runs" if proof.ok else f"fails: {proof.summary()}"
            when = f"kept, {proof.proven_at[:10]}" if row.cached else "proven now"
        table = row.table if row.agrees is not False else f"{row.table} (disagrees)"
        rows.append(
            [row.model.name] * several
            + [
                row.runtime,
                outcome,
                _ms(proof and proof.load_ms),
                _ms(proof and proof.invoke_ms),
                when,
                table,
            ]  # fmt: skip
        )
    print_table(headers, rows)


def _ms(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) else "-"
