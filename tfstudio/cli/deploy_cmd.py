"""`tfstudio deploy MODEL --on SELECTOR`: preflight, push, install, health gate.

With `--waves` it is a staged rollout instead (`tfstudio.cli.rollout_opts`): wave by
wave, each wave gated, a failing one rolled back; `--resume ID` continues one.

It runs `Studio.deploy` (the core the UI uses too). Progress (bytes, rate,
ETA) goes to stderr: rich bars on a terminal, plain lines otherwise; the
per-device results go to stdout as a table, or as JSON with `--json`. Exits 1
when any device did not end with the new model active, naming them, and 130
after Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfstudio.cli.grammar import add_where
from tfstudio.cli.output import add_json, print_table, show, wants_json
from tfstudio.cli.rollout_opts import add_rollout_options
from tfstudio.cli.studio_cli import cli_studio

if TYPE_CHECKING:
    from tfstudio.config import Config
    from tfstudio.operations import FleetResult
    from tfstudio.studio.types import (
        BenchSettings,
        DeployOptions,
        DeployResult,
        Device,
        EvalGate,
        Transport,
    )


def register(subparsers: Any) -> None:
    """Adds `deploy`."""
    parser = subparsers.add_parser(
        "deploy", help="push a .tflite model to devices (all at once, or in gated waves)"
    )
    parser.add_argument("model", type=Path, metavar="MODEL.tflite", nargs="?")
    add_where(
        parser,
        "--to",
        help="the devices: NAME[,NAME...], all, or labels (site=lab,hw=pi4, group:cameras)",
    )
    parser.add_argument("--bench", action="store_true", help="bench after activation")
    parser.add_argument("--max-p99-ms", type=float, help="roll back when p99 is above this")
    parser.add_argument(
        "--keep",
        type=int,
        metavar="N",
        help="after a deploy that succeeded (health gate passed), keep the N most recent "
        "models on the device; the active model and its rollback target are always kept "
        "(default: [deploy] keep, 5). To free space now: tfstudio prune NAME --keep N",
    )
    add_bench_options(parser)
    parser.add_argument(
        "--eval-data",
        type=Path,
        metavar="DATA.npz",
        help="health gate: evaluate the new model on the device with this data "
        "(x and labels y; without y, compared to the float model)",
    )
    parser.add_argument(
        "--min-accuracy",
        type=float,
        metavar="X",
        help="with --eval-data: roll back when the device's accuracy is below X",
    )
    parser.add_argument(
        "--eval-reference",
        type=Path,
        metavar="FLOAT.tflite",
        help="with --eval-data without labels: the float model to agree with",
    )
    parser.add_argument("--workers", type=int, help="devices at once (default 8)")
    add_rollout_options(parser)
    add_json(parser)
    parser.set_defaults(handler=_deploy)


def add_bench_options(parser: argparse.ArgumentParser) -> None:
    """Adds --runs/--warmup/--threads/--min-seconds (shared with `bench`)."""
    parser.add_argument("--runs", type=int, help="bench runs")
    parser.add_argument("--warmup", type=int, help="bench warm-up runs")
    parser.add_argument(
        "--threads",
        type=thread_counts,
        metavar="N[,N...]",
        help="interpreter threads; several (1,2,4): one run each, fastest marked",
    )
    parser.add_argument("--min-seconds", type=float, help="bench at least this long")
    parser.add_argument("--warmup-min-seconds", type=float, help="warm up at least this long")


def thread_counts(text: str) -> tuple[int, ...]:
    """Parses `--threads`: "4" or a sweep "1,2,4" (argparse type; the agent's own parser)."""
    from edge_agent.cli_measure import thread_counts as parse

    return tuple(dict.fromkeys(parse(text)))


def connector(connect_timeout: float | None = None) -> Callable[[Device], Transport]:
    """Returns the CLI studio's connector (deadlines from the config, key passphrases
    asked on a terminal); `connect_timeout` overrides the config's."""
    connect = cli_studio().connector
    if connect_timeout is None:
        return connect
    return lambda device: connect(device, connect_timeout=connect_timeout)


def deploy_options(
    config: Config | None = None, args: argparse.Namespace | None = None
) -> DeployOptions:
    """Returns the DeployOptions of the config's deadlines (`config`, default the
    studio's) and the command line's choices. Raises UsageError."""
    studio = cli_studio()
    if config is not None:
        studio.config = config
    if args is None:
        return studio.deploy_options()
    from tfstudio.errors import UsageError

    if args.keep is not None and args.keep < 1:
        raise UsageError("--keep must be at least 1 (the active model is always kept)")
    if args.threads and len(args.threads) > 1:
        raise UsageError("deploy benches with one thread count; sweep with: tfstudio bench")
    return studio.deploy_options(
        bench=args.bench,
        max_p99_ms=args.max_p99_ms,
        keep=args.keep,
        bench_settings=bench_settings(args),
        workers=args.workers,
        eval_gate=eval_gate(args),
    )


def eval_gate(args: argparse.Namespace) -> EvalGate | None:
    """Returns the EvalGate of `--eval-data/--min-accuracy` (None without --eval-data).

    The data is checked and prepared here, before any device is touched.
    Raises UsageError, RepresentativeDataError.
    """
    from tfstudio.errors import UsageError

    if args.eval_data is None:
        if args.min_accuracy is not None or args.eval_reference is not None:
            raise UsageError("--min-accuracy and --eval-reference need --eval-data")
        return None
    return cli_studio().eval_gate(
        args.model, args.eval_data, min_accuracy=args.min_accuracy, reference=args.eval_reference
    )


def bench_settings(args: argparse.Namespace) -> BenchSettings:
    """Returns the BenchSettings of the shared bench options."""
    from tfstudio.studio.types import BenchSettings

    counts = tuple(args.threads or ())
    return BenchSettings(
        runs=args.runs,
        warmup=args.warmup,
        threads=counts[0] if len(counts) == 1 else None,
        thread_counts=counts if len(counts) > 1 else (),
        profile_ops=bool(getattr(args, "profile_ops", False)),
        min_seconds=args.min_seconds,
        warmup_min_seconds=args.warmup_min_seconds,
    )


def _deploy(args: argparse.Namespace) -> int:
    from tfstudio.cli import rollout_opts
    from tfstudio.cli.progress import EventPrinter
    from tfstudio.errors import UsageError
    from tfstudio.studio.types import Status

    if rollout_opts.wants_rollout(args):
        return rollout_opts.run(args, lambda studio: deploy_options(studio.config, args))
    if args.model is None or not args.on:
        raise UsageError("deploy needs MODEL and --on SELECTOR (or --resume ID)")
    studio = cli_studio()
    studio.inspect(args.model)  # a bad file is one line, before any device is resolved
    devices = studio.resolve(args.on)
    options = deploy_options(studio.config, args)
    with EventPrinter(enabled=not wants_json(args)) as progress:
        results = studio.deploy(args.model, devices, options=options, on_event=progress)
    show(args, results, _print_results)
    bad = [f"{r.device} ({r.status.value})" for r in results if not r.ok]
    if bad:
        print(f"tfstudio: error: deploy did not succeed on: {', '.join(bad)}", file=sys.stderr)
    if any(r.status is Status.CANCELLED for r in results):
        return 130
    return 1 if bad else 0


def _print_results(results: FleetResult[DeployResult]) -> None:
    rows = [
        [
            r.device,
            r.status.value,
            r.bytes_sent,
            (r.bench or {}).get("p99_ms"),
            _accuracy(r.eval),
            r.message.removeprefix(f"{r.device}: "),
        ]
        for r in results
    ]
    headers = ["device", "result", "bytes_sent", "p99_ms", "accuracy", "detail"]
    print_table(headers, rows)
    for r in results:
        for reason in (r.eval or {}).get("drift_reasons") or ():
            print(f"{r.device}: runtime drift: {reason}", file=sys.stderr)
    for r in results:
        if r.hint and not r.ok:
            print(f"{r.device}: fix: {r.hint}", file=sys.stderr)


def _accuracy(summary: dict[str, Any] | None) -> str | None:
    """The eval step's score for the results table (accuracy, else agreement)."""
    if not summary:
        return None
    score = summary.get("accuracy")
    score = summary.get("top1_agreement") if score is None else score
    return None if score is None else f"{score:.4f}"
