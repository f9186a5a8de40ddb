"""`tfstudio bench (MODEL.tflite | --active) --on NAME[,NAME...]`: latency on devices.

Prints a device × model table (p50, p90, p99, init, first inference, memory),
or the list of agent reports with `--json`. A model the device does not store
is pushed to its scratch area and never activated. `--input FILE` benches on
real inputs (sent once, kept by hash); `--threads 1,2,4` sweeps thread counts
in one call and marks the fastest per device. `--profile-ops` says plainly
that the Python runtimes expose no per-op timing, and what does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tfstudio.cli.grammar import add_where
from tfstudio.cli.output import add_json, print_table, show, wants_json


def register(subparsers: Any) -> None:
    """Adds `bench`."""
    from tfstudio.cli.deploy_cmd import add_bench_options

    parser = subparsers.add_parser("bench", help="measure a model's latency on devices")
    parser.add_argument("model", type=Path, nargs="?", metavar="MODEL.tflite")
    parser.add_argument("--active", action="store_true", help="bench the active model")
    add_where(parser, required=True, help="the devices to bench on: names or all")
    add_bench_options(parser)
    parser.add_argument(
        "--input",
        type=Path,
        metavar="FILE.npy",
        help="real inputs (.npy, or .npz with x): one example, or many, cycled through",
    )
    parser.add_argument(
        "--profile-ops", action="store_true", help="per-op timing (says where it is available)"
    )
    add_json(parser)
    parser.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> int:
    from tfstudio.cli.deploy_cmd import bench_settings
    from tfstudio.cli.progress import EventPrinter
    from tfstudio.cli.studio_cli import cli_studio
    from tfstudio.errors import UsageError

    if (args.model is None) == (not args.active):
        raise UsageError("give either MODEL.tflite or --active")
    studio = cli_studio()
    if args.model is not None:
        studio.inspect(args.model)  # a bad file is one line here, not N device errors
    if args.input is not None and not args.input.is_file():
        raise UsageError(f"--input {args.input}: no such file")
    devices = studio.resolve(args.on)
    with EventPrinter(enabled=not wants_json(args), plain=False) as progress:
        results = studio.bench(
            devices, args.model, bench_settings(args), inputs=args.input, on_event=progress
        )
    outcomes = list(results)

    def human(_: object) -> None:
        print_table(HEADERS, table_rows(outcomes, args.model))
        _notes(outcomes, args.profile_ops)

    show(args, results, human)
    bad = [o.device for o in outcomes if o.report is None]
    if bad:
        print(f"tfstudio: error: bench failed on: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


HEADERS = [
    "device", "model", "threads", "p50_ms", "p90_ms", "p99_ms", "init_ms", "first_ms",
    "rss_mb", "result",
]  # fmt: skip


def table_rows(outcomes: list[Any], model: Path | None) -> list[list[Any]]:
    """Returns one row per bench run (a sweep: one per thread count, '*' on the fastest)."""
    rows: list[list[Any]] = []
    for o in outcomes:
        if o.report is None:
            rows.append([o.device, model.name if model else "active", *([None] * 7), "error"])
            continue
        sweep = len(o.runs) > 1
        for r in o.runs:
            name = model.name if model else (r.get("model") or {}).get("name") or "active"
            threads = r.get("threads")
            mark = "fastest" if sweep and r.get("fastest") else "ok"
            rows.append(
                [
                    o.device,
                    name,
                    "default" if threads is None else threads,
                    r.get("p50_ms"),
                    r.get("p90_ms"),
                    r.get("p99_ms"),
                    r.get("init_ms"),
                    r.get("first_invoke_ms"),
                    r.get("rss_peak_mb"),
                    mark,
                ]
            )
    return rows


def _notes(outcomes: list[Any], profile_ops: bool) -> None:
    """Errors, the fastest thread count of each sweep, and the per-op profile's answer."""
    for o in outcomes:
        if o.error:
            print(o.error + (f" ({o.hint})" if o.hint else ""), file=sys.stderr)
        elif len(o.runs) > 1:
            print(f"{o.device}: fastest with {o.report['fastest_threads']} threads (by p50)")
    if not profile_ops:
        return
    for o in outcomes:
        for r in o.runs[:1]:
            profile = r.get("op_profile") or {}
            if profile.get("available") is False:
                print(f"{o.device}: per-op timing not available: {profile.get('reason')}")
