"""`tfstudio watch DIR` (the hands-free pipeline) and `tfstudio pipeline log` (its chains).

`watch` prints one line per pipeline event (`--json`: one JSON object per
line) until Ctrl-C or SIGTERM (the step in progress is cancelled; exit 130 or
143), or with `--once` until the exports present have been handled (exit 1
when a step failed). `pipeline log` reads the log back: for each export, variant and
device, the chain image digest → SavedModel hash → variant sha256 →
activation. The work is `tfstudio.workflows.pipeline`, imported inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tfstudio.cli.deploy_cmd import add_bench_options, bench_settings
from tfstudio.cli.output import add_json, print_json, render_table, wants_json


def register(subparsers: Any) -> None:
    """Adds `watch` and `pipeline`."""
    parser = subparsers.add_parser(
        "watch",
        help="convert, deploy and bench every new SavedModel under DIR, hands-free",
        description=(
            "Watch DIR (e.g. a training workspace: exports/<name>/<version>/) for SavedModels. "
            "Each one that is complete (saved_model.pb and variables/ unchanged for --settle "
            "seconds) is converted, evaluated and, with --deploy-to, deployed (preflight, push, "
            "activate, gate, rollback) and benched, once per content hash. Every step is logged "
            "to TFSTUDIO_HOME/pipeline/events.jsonl; read it back with: tfstudio pipeline log"
        ),
    )
    parser.add_argument("dir", type=Path, metavar="DIR")
    parser.add_argument(
        "--quant", default="float32", metavar="MODE[,MODE...]|all", help="modes (default float32)"
    )
    parser.add_argument("--rep-data", type=Path, metavar="PATH", help="for int8/int16x8")
    parser.add_argument(
        "--eval-data", type=Path, metavar="PATH", help="score each variant (.npz with x, y)"
    )
    parser.add_argument("--deploy-to", metavar="NAME[,NAME...]|all", help="deploy each variant")
    parser.add_argument(
        "--bench", action="store_true", help="bench on each device after activation"
    )
    parser.add_argument("--max-p99-ms", type=float, help="roll back when p99 is above this")
    parser.add_argument(
        "--settle",
        type=float,
        metavar="S",
        help="seconds an export must stay unchanged before it counts (default 5)",
    )
    parser.add_argument(
        "--once", action="store_true", help="handle the exports there now, then exit"
    )
    add_bench_options(parser)
    add_json(parser)
    parser.set_defaults(handler=_watch)

    pipeline = subparsers.add_parser("pipeline", help="the watch pipeline's log and chains")
    sub = pipeline.add_subparsers(dest="pipeline_command", metavar="COMMAND")
    log = sub.add_parser(
        "log", help="each export's chain: job image → SavedModel → variant → device"
    )
    log.add_argument("--events", action="store_true", help="every event, not the chains")
    add_json(log)
    log.set_defaults(handler=_log)
    pipeline.set_defaults(handler=lambda _args: _usage(pipeline))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def settings_of(args: argparse.Namespace) -> Any:
    """Returns the PipelineSettings of the command line. Raises UsageError."""
    from tfstudio.errors import UsageError
    from tfstudio.studio.types import parse_modes
    from tfstudio.workflows.pipeline.settings import DEFAULT_SETTLE_S, PipelineSettings

    if args.threads and len(args.threads) > 1:
        raise UsageError("watch benches with one thread count; sweep with: tfstudio bench")
    modes = tuple(m.value for m in parse_modes(args.quant))
    names = tuple(n for n in (args.deploy_to or "").split(",") if n.strip())
    settings = PipelineSettings(
        root=args.dir.expanduser().absolute(),
        modes=modes,
        rep_data=args.rep_data,
        eval_data=args.eval_data,
        deploy_to=names,
        bench=args.bench,
        max_p99_ms=args.max_p99_ms,
        settle_s=DEFAULT_SETTLE_S if args.settle is None else args.settle,
        bench_settings=bench_settings(args),
    )
    settings.check()
    return settings


def _watch(args: argparse.Namespace) -> int:
    from tfstudio.cli.studio_cli import cli_studio
    from tfstudio.errors import TfStudioError
    from tfstudio.workflows.pipeline.watcher import Watcher

    settings = settings_of(args)
    studio = cli_studio()
    devices = studio.resolve(",".join(settings.deploy_to)) if settings.deploy_to else []
    lock = threading.Lock()

    def show(event: Any) -> None:
        if event.step == "progress":
            return  # a device's deploy stages: the UI shows them, the log and this do not
        with lock:
            if wants_json(args):
                print(json.dumps(event.to_json(), default=str), flush=True)
            else:
                stamp = time.strftime("%H:%M:%S")
                print(f"{stamp}  {event.line()}", flush=True)

    watcher = Watcher(studio, settings, devices, on_event=show)
    failed: list[int] = []
    broken: list[TfStudioError] = []

    def watch() -> None:
        try:
            failed.append(watcher.run(once=args.once))
        except TfStudioError as exc:  # the log cannot be written (disk full): one line
            broken.append(exc)
        except Exception as exc:  # noqa: BLE001 - a dead watcher must not look like a clean end
            broken.append(
                TfStudioError(
                    f"the watcher stopped on an error: {type(exc).__name__}: {exc}",
                    hint="this is a bug; the pipeline log keeps what was done (tfstudio "
                    "pipeline log)",
                )
            )

    thread = threading.Thread(target=watch, name="watch", daemon=True)
    stopped_by: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        # A handler, not KeyboardInterrupt: an exception inside Thread.join can leave
        # the thread looking finished, and the watcher's last event would be lost.
        if not stopped_by:
            stopped_by.append(signum)
            print("stopping: the step in progress is cancelled (resumed next time)",
                  file=sys.stderr, flush=True)  # fmt: skip
            watcher.stop()
            signal.signal(signal.SIGINT, signal.default_int_handler)  # twice: at once

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        studio.close()
    if broken:
        raise broken[0]
    if stopped_by:
        return 128 + stopped_by[0]  # 130 after Ctrl-C, 143 after SIGTERM, as a shell says
    return 1 if failed and failed[0] else 0


def _log(args: argparse.Namespace) -> int:
    from tfstudio.workflows.pipeline import journal, readback

    events = journal.read()
    if args.events:
        if wants_json(args):
            for event in events:
                print(json.dumps(event.to_json(), default=str))
        else:
            for event in events:
                print(f"{event.time[:19]}  {event.line()}")
        return 0
    rows = readback.chains(events)
    failures = readback.errors(events)
    if wants_json(args):
        print_json(
            {
                "chains": [r.to_json() for r in rows],
                "errors": [e.to_json() for e in failures],
                "log": str(journal.log_path()),
            }
        )
        return 0
    if not rows and not failures:
        print(
            f"the pipeline log is empty ({journal.log_path()}): start one with tfstudio watch DIR"
        )
        return 0
    headers = [
        "export",
        "job",
        "image",
        "savedmodel",
        "mode",
        "variant",
        "device",
        "result",
        "p99 ms",
    ]
    table = [
        [
            r.name,
            r.job or "-",
            _short(r.image_digest),
            _short(r.saved_model_sha256),
            r.mode,
            _short(r.variant_sha256),
            r.device or "-",
            r.status,
            r.p99_ms,
        ]
        for r in rows
    ]
    print(render_table(headers, table))
    for event in failures:
        print(f"failed: {event.line()}")
    return 0


def _short(digest: str | None) -> str:
    if not digest:
        return "-"
    return digest.split(":", 1)[-1][:12]
