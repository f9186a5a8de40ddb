"""`tfstudio deploy MODEL --to NAME[,NAME...|all]`: preflight, push, install, health gate.

Progress (bytes, rate, ETA) goes to stderr; the per-device results go to
stdout as a table, or as JSON with `--json`. Exits 1 when any device did not
end with the new model active, naming them, and 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfstudio.cli.output import human_bytes, print_json, render_table

if TYPE_CHECKING:
    from tfstudio.config import Config
    from tfstudio.fleet.deploy import DeployEvent, DeployOptions
    from tfstudio.fleet.registry import Device
    from tfstudio.fleet.transport import Transport


def register(subparsers: Any) -> None:
    """Adds `deploy`."""
    parser = subparsers.add_parser("deploy", help="push a .tflite model to devices")
    parser.add_argument("model", type=Path, metavar="MODEL.tflite")
    parser.add_argument("--to", required=True, metavar="NAME[,NAME...]|all")
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
    parser.add_argument("--json", action="store_true")
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


def _ask_passphrase(path: str) -> str | None:
    if not sys.stdin.isatty():
        return None
    import getpass

    return getpass.getpass(f"passphrase for {path}: ")


def connector(connect_timeout: float | None = None) -> Callable[[Device], Transport]:
    """Returns a function that opens a device's transport (deadlines from the config),
    asking for key passphrases on a terminal."""
    from tfstudio.config import load_config
    from tfstudio.fleet.connect import open_transport

    config = load_config()
    lock = threading.Lock()

    def ask(path: str) -> str | None:
        with lock:  # one prompt at a time, even during a fan-out
            return _ask_passphrase(path)

    def connect(device: Device) -> Transport:
        return open_transport(
            device,
            passphrase=ask,
            connect_timeout=connect_timeout or config.connect_timeout_s,
            command_timeout=config.command_timeout_s,
            stall_timeout=config.stall_timeout_s,
        )

    return connect


def deploy_options(config: Config, args: argparse.Namespace | None = None) -> DeployOptions:
    """Returns the DeployOptions of the config's deadlines and the command line's choices."""
    from tfstudio.fleet.deploy import DeployOptions

    common: dict[str, Any] = {
        "connect_timeout": config.connect_timeout_s,
        "command_timeout": config.command_timeout_s,
        "stall_timeout": config.stall_timeout_s,
        "install_timeout": config.install_timeout_s,
        "lock_wait": config.lock_wait_s,
        "reconnect_timeout": config.reconnect_timeout_s,
        "workers": config.fanout,
    }
    if args is None:
        return DeployOptions(**common)
    from tfstudio.errors import UsageError

    if args.keep is not None and args.keep < 1:
        raise UsageError("--keep must be at least 1 (the active model is always kept)")
    if args.threads and len(args.threads) > 1:
        raise UsageError("deploy benches with one thread count; sweep with: tfstudio bench")
    common.update(
        bench=args.bench,
        max_p99_ms=args.max_p99_ms,
        keep=args.keep if args.keep is not None else config.deploy_keep,
        bench_settings=bench_settings(args),
        workers=args.workers or config.fanout,
        eval_gate=eval_gate(args),
    )
    return DeployOptions(**common)


def eval_gate(args: argparse.Namespace) -> Any:
    """Returns the EvalGate of `--eval-data/--min-accuracy` (None without --eval-data).

    The data is checked and prepared here, before any device is touched.
    Raises UsageError, RepresentativeDataError.
    """
    from tfstudio.errors import UsageError

    if args.eval_data is None:
        if args.min_accuracy is not None or args.eval_reference is not None:
            raise UsageError("--min-accuracy and --eval-reference need --eval-data")
        return None
    if args.min_accuracy is not None and not 0 <= args.min_accuracy <= 1:
        raise UsageError("--min-accuracy is a fraction, from 0 to 1 (e.g. 0.95)")
    from tfstudio.measure.evaldata import prepare_data
    from tfstudio.measure.evalgate import EvalGate

    data = prepare_data(args.model, args.eval_data, reference_model=args.eval_reference)
    return EvalGate(data, args.min_accuracy)


class ProgressPrinter:
    """Prints deploy events to stderr: a redrawn bar on a terminal, sparse lines otherwise."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.lock = threading.Lock()
        self.last: dict[str, float] = {}

    def __call__(self, event: DeployEvent) -> None:
        with self.lock:
            if event.transfer is None:
                if event.stage not in ("done",) and event.message:
                    prefix = f"{event.device}: " if event.device else "tfstudio: "
                    self._line(prefix + event.message)
                return
            tick = event.transfer
            now = time.monotonic()
            finished = tick.done >= tick.total
            if not finished and now - self.last.get(event.device, 0.0) < (0.1 if self.tty else 2):
                return
            self.last[event.device] = now
            width = 24
            filled = int(width * tick.fraction)
            eta = f"{tick.eta_s:.0f}s" if tick.eta_s is not None else "?"
            text = (
                f"{event.device}: [{'#' * filled}{'.' * (width - filled)}] "
                f"{tick.fraction * 100:3.0f}% {human_bytes(tick.done)}/{human_bytes(tick.total)} "
                f"{human_bytes(tick.rate_bps)}/s ETA {eta}"
            )
            if self.tty and not finished:
                self.stream.write("\r" + text + "\x1b[K")
                self.stream.flush()
            else:
                self._line(text)

    def _line(self, text: str) -> None:
        prefix = "\r\x1b[K" if self.tty else ""
        self.stream.write(prefix + text + "\n")
        self.stream.flush()


def bench_settings(args: argparse.Namespace) -> Any:
    """Returns the BenchSettings of the shared bench options."""
    from tfstudio.fleet.bench import BenchSettings

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
    from tfstudio.config import load_config
    from tfstudio.fleet.deploy import Status, deploy_many
    from tfstudio.fleet.registry import resolve_names
    from tfstudio.modelinfo import inspect_model

    facts = inspect_model(args.model)
    devices = resolve_names(args.to)
    options = deploy_options(load_config(), args)
    results = deploy_many(
        args.model,
        facts,
        devices,
        options,
        connect=connector(),
        on_event=None if args.json else ProgressPrinter(),
    )
    if args.json:
        print_json([r.to_json() for r in results])
    else:
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
        print(render_table(headers, rows))
        for r in results:
            for reason in (r.eval or {}).get("drift_reasons") or ():
                print(f"{r.device}: runtime drift: {reason}", file=sys.stderr)
        for r in results:
            if r.hint and not r.ok:
                print(f"{r.device}: fix: {r.hint}", file=sys.stderr)
    bad = [f"{r.device} ({r.status.value})" for r in results if not r.ok]
    if bad:
        print(f"tfstudio: error: deploy did not succeed on: {', '.join(bad)}", file=sys.stderr)
    if any(r.status is Status.CANCELLED for r in results):
        return 130
    return 1 if bad else 0


def _accuracy(summary: dict[str, Any] | None) -> str | None:
    """The eval step's score for the results table (accuracy, else agreement)."""
    if not summary:
        return None
    score = summary.get("accuracy")
    score = summary.get("top1_agreement") if score is None else score
    return None if score is None else f"{score:.4f}"
