"""`tfstudio metrics NAME[,NAME...] [--watch] [--json]`: live telemetry from devices' servers.

Scrapes each device's agent server through its SSH connection (nothing
listens beyond the device's loopback): request rate, errors, p50/p90/p99 of
request and invoke latency, the active model and uptime. One scrape reports
since the server started; `--watch` redraws every `--interval` seconds with
rates over the last interval (JSON lines with `--json`). Ctrl-C ends a watch.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from tfstudio.cli.output import add_json, print_table, show, wants_json
from tfstudio.operations import CancelToken

if TYPE_CHECKING:
    from tfstudio.studio.types import DeviceMetrics


def register(subparsers: Any) -> None:
    """Adds `metrics`."""
    parser = subparsers.add_parser("metrics", help="live request rates and latency from devices")
    parser.add_argument("names", metavar="NAME[,NAME...]|all")
    parser.add_argument("--watch", action="store_true", help="keep scraping; Ctrl-C ends it")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between scrapes")
    add_json(parser)
    parser.set_defaults(handler=_metrics)


def _rate(value: float | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def rows(results: list[DeviceMetrics]) -> list[list[Any]]:
    """Returns the table rows of a round of scrapes."""
    out: list[list[Any]] = []
    for m in results:
        if not m.ok:
            out.append([m.device, "error", *([None] * 9)])
            continue
        req, inv = m.request_latency, m.invoke_latency
        model = (m.active or {}).get("name") or (m.active or {}).get("sha256", "")[:12] or None
        out.append(
            [
                m.device,
                model,
                _rate(m.request_rate),
                m.errors,
                m.predicts,
                req.p50_ms if req else None,
                req.p99_ms if req else None,
                inv.p50_ms if inv else None,
                inv.p99_ms if inv else None,
                f"{m.uptime_s:.0f}s" if m.uptime_s is not None else None,
                "start" if m.since_start else f"{m.window_s:.1f}s",
            ]
        )
    return out


HEADERS = [
    "device", "model", "req/s", "errors", "predicts", "req_p50_ms", "req_p99_ms",
    "inv_p50_ms", "inv_p99_ms", "uptime", "window",
]  # fmt: skip


def _print(results: list[DeviceMetrics], as_json: bool, clear: bool) -> None:
    if as_json:
        for m in results:
            sys.stdout.write(json.dumps(m.to_json()) + "\n")
        sys.stdout.flush()
        return
    if clear:
        sys.stdout.write("\x1b[H\x1b[2J")
    print_table(HEADERS, rows(results))
    for m in results:
        if m.error:
            print(m.error + (f" ({m.hint})" if m.hint else ""), file=sys.stderr)
    sys.stdout.flush()


def _metrics(args: argparse.Namespace) -> int:
    from tfstudio.cli.studio_cli import cli_studio
    from tfstudio.errors import UsageError

    if args.interval <= 0:
        raise UsageError("--interval must be above 0")
    studio = cli_studio()
    sessions = [studio.metrics(d.name) for d in studio.resolve(args.names)]
    cancel = CancelToken()
    try:
        if not args.watch:
            results = studio.scrape(sessions, cancel=cancel)
            show(args, [m.to_json() for m in results], lambda _: _print(results, False, False))
            bad = [m.device for m in results if not m.ok]
            if bad:
                print(f"tfstudio: error: no metrics from: {', '.join(bad)}", file=sys.stderr)
            return 1 if bad else 0
        tty = sys.stdout.isatty()
        while True:
            _print(
                studio.scrape(sessions, cancel=cancel),
                wants_json(args),
                tty and not wants_json(args),
            )
            if cancel.is_set():
                return 0
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0  # the way to end a watch
    finally:
        for session in sessions:
            session.close()
