"""The measuring commands of the agent's CLI: `eval`, `service`, and bench's thread sweeps.

`cli.py` registers these with `add_commands` and dispatches through
`COMMANDS`; the work lives in `evaluate`, `bench`, `service` and
`supervisor`, as plain functions that a long-lived session can call too.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional


def thread_counts(text: str) -> List[int]:
    """Parses `--threads`: one count ("4") or a sweep ("1,2,4")."""
    from edge_agent.bench import parse_threads
    from edge_agent.errors import AgentError

    try:
        return parse_threads(text)
    except AgentError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def add_commands(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Adds `eval` and `service` to the agent's parser (`command` makes a subparser)."""
    p = command("eval", "accuracy (or agreement) of a model on eval data, on this runtime")
    p.add_argument("data", help=".npy or .npz (x, optional y labels, optional reference)")
    p.add_argument("--model", help="stored sha (or prefix) or a .tflite path; default: active")
    p.add_argument("--sha256", help="refuse the data unless it hashes to this")
    p.add_argument("--threads", type=int)
    p.add_argument("--output", help="the output to score (name); default: the first")
    p.add_argument("--top1", action="store_true", help="include each sample's top-1 class")
    p.add_argument("--outputs-to", help="also save the dequantized outputs as .npy here")
    p = command("service", "run `serve` as a service: systemd --user, else supervised")
    p.add_argument("action", choices=["enable", "disable", "status", "supervise"],
                   help="supervise: the supervisor itself (started by enable)")  # fmt: skip
    p.add_argument("--port", type=int, default=8501, help="loopback port (0: any free one)")
    p.add_argument("--mode", choices=["auto", "systemd", "process"], default="auto")
    p.add_argument("--no-token", action="store_true", help="serve without a bearer token")
    p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for serve")
    p.add_argument("--with-token", action="store_true", help="status: include the token")


def _store(args: argparse.Namespace) -> Any:
    from edge_agent.store import Store

    return Store(Path(os.path.expanduser(args.home)).absolute())


def cmd_eval(args: argparse.Namespace) -> Dict[str, Any]:
    """`eval DATA`: runs evaluate.run_eval."""
    from edge_agent.evaluate import run_eval

    return run_eval(
        Path(os.path.expanduser(args.home)).absolute(),
        args.data,
        args.model,
        data_sha=args.sha256,
        threads=args.threads,
        output=args.output,
        with_top1=args.top1,
        outputs_to=args.outputs_to,
    )


def cmd_service(args: argparse.Namespace) -> Optional[Dict[str, Any]]:
    """`service ACTION`: enable / disable / status, or be the supervisor."""
    from edge_agent import service

    store = _store(args)
    if args.action == "enable":
        return service.enable(
            store, port=args.port, mode=args.mode, token=not args.no_token, wait_s=args.wait
        )
    if args.action == "disable":
        return service.disable(store)
    if args.action == "status":
        return service.status(store, with_token=args.with_token)
    from edge_agent.supervisor import supervise

    supervise(store)
    return {"stopped": True}


def run_bench_command(store: Any, args: argparse.Namespace) -> Dict[str, Any]:
    """`bench`: one run, or a sweep when `--threads` lists several counts."""
    from edge_agent.bench import bench_or_sweep

    return bench_or_sweep(
        store,
        threads=args.threads,
        model_ref=args.model,
        runs=args.runs,
        warmup=args.warmup,
        min_seconds=args.min_seconds,
        warmup_min_seconds=args.warmup_min_seconds,
        input_kind=args.input,
        profile_ops=args.profile_ops,
        input_sha=args.input_sha256,
        signature=getattr(args, "signature", None),
    )


COMMANDS: Dict[str, Callable[[argparse.Namespace], Optional[Dict[str, Any]]]] = {
    "eval": cmd_eval,
    "service": cmd_service,
}


def human(command: str, result: Dict[str, Any]) -> Optional[str]:
    """Returns the text of a result of these commands (None: not one of them)."""
    if command == "eval":
        parts = [f"{result['model']['name']} on {result['data']['samples']} samples"]
        if result.get("accuracy") is not None:
            parts.append(f"accuracy {result['accuracy']:.4f}")
        if result.get("top1_agreement") is not None:
            parts.append(f"top-1 agreement {result['top1_agreement']:.4f}")
        runtime = result["runtime"]
        parts.append(f"{runtime['name']} {runtime['version']}, {result['loop_ms']:.1f} ms")
        return ", ".join(parts)
    if command == "service" and "running" in result:
        if not result.get("enabled"):
            return "service: not enabled"
        state = "running" if result["running"] else "NOT running"
        up = f", up {result['uptime_s']:.0f} s" if result.get("uptime_s") is not None else ""
        text = f"service ({result['mode']}): {state} on 127.0.0.1:{result.get('port')}{up}"
        return text + (f"\nhint: {result['hint']}" if result.get("hint") else "")
    if command == "bench" and "sweep" in result:
        lines = []
        for report in result["sweep"]:
            mark = "*" if report.get("fastest") else " "
            lines.append(
                f"{mark} threads={report['threads']}: p50 {report['p50_ms']:.3f} ms, "
                f"p99 {report['p99_ms']:.3f} ms"
            )
        return "\n".join(lines)
    return None
