"""`tfstudio gpu-check` (TensorFlow's view of GPUs, in an image) and `tfstudio gpus` (NVML)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from tfstudio.cli.engine_opts import add_engine_option
from tfstudio.cli.output import add_json, human_bytes, print_json, print_table, show, wants_json

if TYPE_CHECKING:
    from tfstudio.studio.types import GpuCheckResult


def register(subparsers: Any) -> None:
    """Adds `gpu-check` and `gpus`."""
    check = subparsers.add_parser(
        "gpu-check",
        help="run TensorFlow's GPU check inside an image: devices, timed matmul, replicas",
    )
    add_engine_option(check)
    check.add_argument("--image", help="image to check (default: [training] image)")
    check.add_argument("--gpus", help="all, none, N or 0,1 (default: [training] gpus)")
    check.add_argument(
        "--allow-latest", action="store_true", help="allow a latest/floating image tag"
    )
    check.add_argument("--timeout", type=float, default=300.0, help="seconds for the check")
    add_json(check)
    check.set_defaults(handler=_check)

    gpus = subparsers.add_parser("gpus", help="GPUs on this machine as NVML sees them")
    add_json(gpus)
    gpus.set_defaults(handler=_gpus)


def _check(args: argparse.Namespace) -> int:
    from tfstudio.cli.progress import EventPrinter
    from tfstudio.cli.studio_cli import cli_training
    from tfstudio.errors import UsageError
    from tfstudio.operations import Stage
    from tfstudio.studio.types import Verdict

    stages = {Stage.PULL, Stage.BUILD}  # what the check's log always said; pulls show bytes
    with cli_training() as training:
        if not (args.image or training.settings().image):
            raise UsageError("no image given", hint="pass --image REPO:TAG or set [training] image")
        with EventPrinter(enabled=not wants_json(args), stages=stages) as progress:
            result = training.gpu_check(
                args.image,
                args.gpus,
                engine=args.engine,
                allow_latest=args.allow_latest,
                timeout_s=args.timeout,
                on_event=progress,
            )
    show(args, result, _print_check)
    return 0 if result.verdict in (Verdict.GPU_USABLE, Verdict.NO_GPU_VISIBLE) else 1


def _print_check(result: GpuCheckResult) -> None:
    print(result.message)
    print(f"  hint: {result.hint}")
    if result.gflops:
        print(
            f"  {result.gflops:.1f} GFLOP/s; TensorFlow {result.tensorflow}, "
            f"Python {result.python}, replicas {result.replicas}"
        )


def _gpus(args: argparse.Namespace) -> int:
    from tfstudio.cli.studio_cli import cli_studio

    report = cli_studio().training.gpus()
    if wants_json(args):
        print_json(report.to_json())
        return 0
    if not report.available:
        print(report.summary())
        return 0
    rows = [
        [
            g.index,
            g.name,
            f"{g.utilization_percent}%",
            f"{human_bytes(g.memory_used)} / {human_bytes(g.memory_total)}",
            len(g.processes),
        ]
        for g in report.gpus
    ]
    print_table(["gpu", "name", "util", "memory", "processes"], rows)
    return 0
