"""`tfstudio train [options] -- CMD ...`: run a training command in a pinned image.

Without `--detach` the job's log streams to stdout until it ends, then its
provenance (exit code, exported models with their hashes) is summarised and
the command exits with the job's exit code. Ctrl-C asks whether to stop the
job; without a terminal to ask on, the job keeps running.

`--workers N` runs one job of N workers on an engine that is a Docker Swarm
manager (MultiWorkerMirroredStrategy, `TF_CONFIG` per worker): the log is
every worker's, each line prefixed `[w0]`, and Ctrl-C asks once for the
whole group. `--emit k8s DIR` writes the same job as Kubernetes manifests
instead of running it.
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
    from tfstudio.studio.training_types import TrainRequest
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
    group = parser.add_argument_group(
        "multi-worker jobs (MultiWorkerMirroredStrategy, TF_CONFIG per worker)"
    )
    group.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="run N workers (2 or more) as Docker Swarm services on an engine that is a swarm "
        "manager; limits and --gpus are per worker",
    )
    group.add_argument(
        "--volume",
        metavar="NAME",
        help="the workspace as a named volume instead of a bind mount (with --emit k8s: a "
        "PersistentVolumeClaim)",
    )
    group.add_argument(
        "--shared-workspace",
        action="store_true",
        help="the workspace (and --mount) paths hold the same files on every swarm node",
    )
    group.add_argument(
        "--worker-port", type=int, metavar="PORT", help="the workers' gRPC port (12345)"
    )
    group.add_argument(
        "--emit",
        nargs=2,
        metavar=("k8s", "DIR"),
        help="write the job as Kubernetes manifests (Indexed Job + headless Service) into DIR "
        "instead of running it",
    )
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
        workers=args.workers,
        volume=args.volume,
        shared_workspace=args.shared_workspace,
        worker_port=args.worker_port,
    )
    if args.emit:
        return _emit(args, request)
    if args.workers is None and (args.volume or args.shared_workspace or args.worker_port):
        from tfstudio.errors import UsageError

        raise UsageError("--volume, --shared-workspace and --worker-port need --workers N")
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
        if job.is_group:
            note(
                f"job {job.job_id} started ({job.name}, {len(job.workers)} workers) on "
                f"{job.engine}; Ctrl-C to stop"
            )
        else:
            note(f"job {job.job_id} started ({job.name}) on {job.engine}; Ctrl-C to stop")
        return _follow_to_end(training, started, wants_json(args))


def _emit(args: argparse.Namespace, request: TrainRequest) -> int:
    from tfstudio.errors import UsageError

    kind, directory = args.emit
    if kind != "k8s":
        raise UsageError(f"--emit {kind!r}: the one format is k8s (Kubernetes manifests)")
    if args.detach:
        raise UsageError("--emit writes manifests; it starts nothing to detach from")
    with cli_training() as training:
        written = training.emit_k8s(request, directory)
    if wants_json(args):
        print_json(written.to_json())
        return 0
    for path in written.files:
        print(path)
    for text in written.notes:
        note(f"note: {text}")
    note(f"apply: kubectl apply -f {written.directory}")
    return 0


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
            if job.is_group:
                log = training.guard(job)
                note(f"a guard process stops the other workers if one fails (log: {log})")
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
        for worker in job.workers:
            note(f"  {worker.label} on {worker.node or '-'}: {worker.reason()}")
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
    if job.is_group:
        return confirm(f"stop job {job.job_id} ({job.name}): all {len(job.workers)} workers?")
    return confirm(f"stop job {job.job_id} ({job.name})?")
