"""`tfstudio bench (MODEL.tflite | --active) --on NAME[,NAME...]`: latency on devices.

Prints a device × model table (p50, p90, p99, init, first inference, memory),
or the list of agent reports with `--json`. A model the device does not store
is pushed to its scratch area and never activated.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tfstudio.cli.output import print_json, render_table


def register(subparsers: Any) -> None:
    """Adds `bench`."""
    from tfstudio.cli.deploy_cmd import add_bench_options

    parser = subparsers.add_parser("bench", help="measure a model's latency on devices")
    parser.add_argument("model", type=Path, nargs="?", metavar="MODEL.tflite")
    parser.add_argument("--active", action="store_true", help="bench the active model")
    parser.add_argument("--on", required=True, metavar="NAME[,NAME...]|all")
    add_bench_options(parser)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> int:
    from tfstudio.cli.deploy_cmd import bench_settings, connector
    from tfstudio.errors import UsageError
    from tfstudio.fleet.bench import bench_many
    from tfstudio.fleet.registry import resolve_names

    if (args.model is None) == (not args.active):
        raise UsageError("give either MODEL.tflite or --active")
    if args.model is not None:
        from tfstudio.modelinfo import inspect_model

        inspect_model(args.model)  # a bad file is one line here, not N device errors
    outcomes = bench_many(
        resolve_names(args.on), args.model, bench_settings(args), connect=connector()
    )
    if args.json:
        print_json([o.to_json() for o in outcomes])
    else:
        rows = []
        for o in outcomes:
            r = o.report or {}
            model = (r.get("model") or {}).get("name") or (
                args.model.name if args.model else "active"
            )
            rows.append(
                [
                    o.device,
                    model,
                    r.get("p50_ms"),
                    r.get("p90_ms"),
                    r.get("p99_ms"),
                    r.get("init_ms"),
                    r.get("first_invoke_ms"),
                    r.get("rss_peak_mb"),
                    "ok" if o.report else "error",
                ]
            )
        headers = ["device", "model", "p50_ms", "p90_ms", "p99_ms", "init_ms", "first_ms"]
        print(render_table([*headers, "rss_mb", "result"], rows))
        for o in outcomes:
            if o.error:
                print(o.error + (f" ({o.hint})" if o.hint else ""), file=sys.stderr)
    bad = [o.device for o in outcomes if o.report is None]
    if bad:
        print(f"tfstudio: error: bench failed on: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0
