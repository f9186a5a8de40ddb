"""`tfstudio train [options] -- CMD ...`: run a training command in a pinned image.

Without `--detach` the job's log streams to stdout until it ends, then its
provenance (exit code, exported models with their hashes) is summarised and
the command exits with the job's exit code. Ctrl-C asks whether to stop the
job; without a terminal to ask on, the job keeps running.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from tfstudio.cli.engine_opts import add_engine_option, cancel_on_ctrl_c, note
from tfstudio.cli.output import add_json, print_json, wants_json
from tfstudio.cli.studio_cli import cli_training

if TYPE_CHECKING:
    from tfstudio.studio.training import Training
    from tfstudio.studio.types import LaunchResult


def register(subparsers: Any) -> None:
    """Adds `train`."""
    parser = subparsers.add_parser(
        "train",
        help="run a training command in a pinned TensorFlow image",
        description="Runs CMD in a container: the workspace is mounted at /workspace and CMD "
        "runs there. New models under workspace/exports/ are recorded in the job's provenance.",
    )
    add_engine_option(parser)
    parser.add_argument("--image", help="pinned image (default: [training] image)")
    parser.add_argument(
        "--gpus", help="all, none, a count N, or ids 0,1 (default: [training] gpus)"
    )
    parser.add_argument(
        "--workspace",
        help="directory mounted at /workspace (default: the current directory; on a remote "
        "engine, a path on the engine's host)",
    )
    parser.add_argument("--cpus", help="CPU limit, e.g. 4 or 0.5")
    parser.add_argument("--memory", help="memory limit, e.g. 16g")
    parser.add_argument("--shm-size", help="shared memory size, e.g. 2g")
    parser.add_argument("--env", "-e", action="append", default=[], metavar="K=V")
    parser.add_argument(
        "--publish",
        "-p",
        action="append",
        default=[],
        metavar="PORT",
        help="publish a port: PORT, HOST:CONTAINER or IP:HOST:CONTAINER (default IP 127.0.0.1)",
    )
    parser.add_argument(
        "--mount",
        action="append",
        default=[],
        metavar="SRC:DST[:ro]",
        help="extra bind mount (a path on the engine's host)",
    )
    parser.add_argument("--name", help="container name (default tfstudio-<job id>)")
    parser.add_argument(
        "--allow-latest",
        action="store_true",
        help="allow a latest/untagged/floating image (recorded in provenance)",
    )
    parser.add_argument("--no-pull", action="store_true", help="never pull a missing image")
    parser.add_argument("--detach", "-d", action="store_true", help="start and return")
    add_json(parser)
    parser.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ...")
    parser.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> int:
    from tfstudio.cli.progress import EventPrinter
    from tfstudio.operations import Stage
    from tfstudio.studio.training_types import TrainRequest

    request = TrainRequest(
        args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd,
        image=args.image,
        engine=args.engine,
        gpus=args.gpus,
        workspace=args.workspace,
        cpus=args.cpus,
        memory=args.memory,
        shm_size=args.shm_size,
        env=tuple(args.env),
        publish=tuple(args.publish),
        mounts=tuple(args.mount),
        name=args.name,
        allow_latest=args.allow_latest,
        pull=False if args.no_pull else None,
    )
    with cli_training() as training:
        # Pulls show their bytes; the other stages are quick and the job's log follows.
        shown = {Stage.PULL}
        with EventPrinter(enabled=not wants_json(args), stages=shown, bare=shown) as progress:
            started = training.train(request, on_event=progress, attach=not args.detach)
        job = started.job
        for text in started.notes:
            note(f"note: {text}")
        if args.detach:
            if wants_json(args):
                print_json(started.to_json())
            else:
                note(f"job {job.job_id} started ({job.name}) on {job.engine}")
                print(job.job_id)
                note(f"follow: tfstudio logs -f {job.job_id}")
            return 0
        note(f"job {job.job_id} started ({job.name}) on {job.engine}; Ctrl-C to stop")
        return _follow_to_end(training, started, wants_json(args))


def _follow_to_end(training: Training, started: LaunchResult, want_json: bool) -> int:
    out = sys.stderr if want_json else sys.stdout
    job = started.job
    with cancel_on_ctrl_c() as cancel:
        ended = training.follow_to_end(
            job,
            lambda text: print(text, file=out, flush=True),
            output=started.output,
            cancel=cancel,
        )
    if not ended:
        if not _ask_stop(job):
            note(f"job {job.job_id} keeps running; follow: tfstudio logs -f {job.job_id}")
            return 130
        note(f"stopping job {job.job_id} ...")
        training.stop(job)
    outcome = training.wait(job)
    job, record = outcome.job, outcome.provenance
    if want_json:
        print_json(record.to_json() if record else None)
    else:
        note(f"job {job.job_id} ended: {job.exit_reason()}")
        for export in record.exports if record else ():
            note(f"  {export['path']}  {export['kind']}  sha256 {export['sha256'][:16]}")
        note(f"provenance: {record.path if record else '-'}")
    code = job.exit_code or 0
    return code if 0 <= code < 256 else 1


def _ask_stop(job: Any) -> bool:
    from tfstudio.cli.engine_opts import confirm

    print(file=sys.stderr)
    if not sys.stdin.isatty():
        return False
    return confirm(f"stop job {job.job_id} ({job.name})?")
