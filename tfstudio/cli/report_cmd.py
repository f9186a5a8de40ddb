"""`tfstudio report [MODEL...] [--on NAMES] [--json|--csv|--markdown]`: one variant × device matrix.

From the deploy, bench and eval logs: size, host and device accuracy, p50,
p99, init, first inference, peak memory, threads, runtime and when measured.
Models and devices named here join the matrix even if never measured, so
their cells show as unmeasured.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tfstudio.cli.grammar import add_where
from tfstudio.cli.output import add_json, print_json, print_table, wants_json


def register(subparsers: Any) -> None:
    """Adds `report`."""
    parser = subparsers.add_parser("report", help="variant × device matrix of what was measured")
    parser.add_argument(
        "models",
        type=Path,
        nargs="*",
        metavar="MODEL.tflite",
        help="also list these variants (a directory: its .tflite files)",
    )
    add_where(
        parser, help="only these devices, listed even where nothing was measured (default: all)"
    )
    parser.add_argument(
        "--rollout",
        metavar="ID",
        help="only a staged rollout's model and devices (tfstudio rollouts)",
    )
    fmt = parser.add_mutually_exclusive_group()
    add_json(fmt)
    fmt.add_argument("--csv", action="store_true")
    fmt.add_argument("--markdown", action="store_true")
    parser.set_defaults(handler=_report)


def _models(paths: list[Path]) -> list[Path]:
    from tfstudio.errors import UsageError

    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(path.glob("*.tflite")))
        elif path.is_file():
            out.append(path)
        else:
            raise UsageError(f"{path}: no such model file or directory")
    return out


def _report(args: argparse.Namespace) -> int:
    from tfstudio.cli.studio_cli import cli_studio
    from tfstudio.studio.types import table_rows, to_csv, to_markdown

    studio = cli_studio()
    devices = [d.name for d in studio.resolve(args.on)] if args.on else []
    report = studio.bench_report(_models(args.models), devices, rollout=args.rollout)
    if devices:
        report.devices = devices  # where asked, and only there
    if wants_json(args):
        print_json(report.to_json())
    elif args.csv:
        sys.stdout.write(to_csv(report))
    elif args.markdown:
        sys.stdout.write(to_markdown(report))
    else:
        if not report.variants or not report.devices:
            print(
                "nothing measured yet: deploy, bench or eval a model first "
                "(or name models and --on devices to see the empty matrix)"
            )
            return 0
        if report.rollout is not None:
            r = report.rollout
            waves = ", ".join(f"{w['index']}: {w['state']}" for w in r["waves"])
            print(f"rollout {r['id']} ({r['state']}; waves {waves})")
        headers, rows = table_rows(report)
        print_table(headers, rows)
        summary = report.to_json()
        print(
            f"{summary['measured_cells']} measured, {summary['unmeasured_cells']} not measured",
            file=sys.stderr,
        )
    return 0
