"""`tfstudio jobs` and the job commands `logs`, `stop`, `rm` (also as `jobs SUBCOMMAND`).

Every JOB argument is a job id (or a unique prefix of 4+ digits), a job name
or a container id, matched among this studio's jobs only.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from tfstudio.cli.engine_opts import add_engine_option, cancel_on_ctrl_c, note
from tfstudio.cli.output import add_json, human_bytes, print_json, print_table, show, wants_json
from tfstudio.cli.studio_cli import cli_training

if TYPE_CHECKING:
    from tfstudio.studio.training_types import Lineage


def register(subparsers: Any) -> None:
    """Adds `jobs` (with show/logs/stop/kill/rm/wait/which) and top-level `logs`, `stop`, `rm`."""
    parser = subparsers.add_parser("jobs", help="this studio's training jobs on an engine")
    _list_options(parser)
    parser.set_defaults(handler=_list)
    sub = parser.add_subparsers(dest="jobs_command", metavar="SUBCOMMAND")

    lst = sub.add_parser("list", help="list jobs (the default)")
    _list_options(lst)
    lst.set_defaults(handler=_list)

    show = sub.add_parser("show", help="a job's state and provenance")
    _common(show, job=True)
    show.set_defaults(handler=_show)

    which = sub.add_parser("which", help="which job exported this SavedModel (or convert manifest)")
    which.add_argument("model", help="a SavedModel dir, .keras file, or a convert manifest .json")
    add_json(which)
    which.set_defaults(handler=_which)

    wait = sub.add_parser("wait", help="wait for a job to end; exit with its exit code")
    _common(wait, job=True)
    wait.add_argument("--timeout", type=float, help="give up after this many seconds")
    wait.set_defaults(handler=_wait)

    for target in (sub, subparsers):
        logs = target.add_parser("logs", help="a job's log")
        _common(logs, job=True)
        logs.add_argument("-f", "--follow", action="store_true", help="follow until the job ends")
        logs.add_argument("--tail", type=int, help="only the last N lines")
        logs.set_defaults(handler=_logs)

        stop = target.add_parser("stop", help="stop a job: SIGTERM, then SIGKILL after a timeout")
        _common(stop, job=True)
        stop.add_argument(
            "--timeout", type=float, help="seconds before SIGKILL ([training] stop_timeout)"
        )
        stop.add_argument("--kill", action="store_true", help="SIGKILL now")
        stop.set_defaults(handler=_stop)

        rm = target.add_parser("rm", help="remove a finished job's container (provenance stays)")
        _common(rm, job=True)
        rm.add_argument("--force", action="store_true", help="also a running job (killed)")
        rm.set_defaults(handler=_rm)

    kill = sub.add_parser("kill", help="SIGKILL a running job")
    _common(kill, job=True)
    kill.set_defaults(handler=_kill)


def _list_options(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument(
        "--no-stats", action="store_true", help="skip CPU/memory (as fast as docker ps)"
    )


def _common(parser: argparse.ArgumentParser, *, job: bool = False) -> None:
    if job:
        parser.add_argument("job", metavar="JOB", help="job id (or 4+ digit prefix) or name")
    add_engine_option(parser)
    add_json(parser)


def _list(args: argparse.Namespace) -> int:
    from tfstudio.formatting import ago

    with cli_training() as training:
        jobs = training.jobs(args.engine, stats=not args.no_stats)  # ended ones get finalised
    if wants_json(args):
        print_json([j.to_json() for j in jobs])
        return 0
    rows = [
        [
            j.job_id,
            f"{j.name} ({len(j.workers)} workers)" if j.is_group else j.name,
            j.engine,
            j.image_ref,
            j.state,
            ago(j.started_ns) + " ago" if j.started_ns else "-",
            j.exit_code,
            f"{j.cpu_percent:.0f}%" if j.cpu_percent is not None else None,
            _memory(j),
            j.gpu,
        ]
        for j in jobs
    ]
    headers = [
        "job",
        "name",
        "engine",
        "image",
        "state",
        "started",
        "exit",
        "cpu(avg)",
        "memory",
        "gpu",
    ]
    print_table(headers, rows)
    return 0


def _memory(job: Any) -> str | None:
    if job.memory_bytes is None:
        return None
    text = human_bytes(job.memory_bytes)
    if job.memory_limit and job.memory_limit < (1 << 50):
        text += f" / {human_bytes(job.memory_limit)}"
    return text


def _show(args: argparse.Namespace) -> int:
    with cli_training() as training:
        job = training.job(args.job, args.engine)
        record = training.provenance(job, engine=args.engine)
    if wants_json(args):
        print_json({"job": job.to_json(), "provenance": record.to_json()})
        return 0
    print(f"job       {job.job_id} ({job.name}) on {job.engine}: {job.exit_reason() or job.state}")
    for worker in job.workers:
        code = "-" if worker.exit_code is None else worker.exit_code
        print(
            f"worker    {worker.label}  node {worker.node or '-'}  {worker.state}  exit {code}"
            f"  ({worker.reason()})"
        )
    if record.group:
        group = record.group
        print(
            f"group     {group.get('workers')} workers, port {group.get('worker_port')}, "
            f"network {group.get('network')}"
        )
        if record.group.get("exports_note"):
            print(f"exports   {record.group['exports_note']}")
    print(f"image     {record.image.get('ref')}")
    print(f"digest    {record.image.get('digest')}")
    print(f"          ({record.image.get('digest_note') or record.image.get('digest_kind')})")
    if record.image.get("override"):
        print(f"override  {record.image['override']}")
    print(f"command   {' '.join(record.command)}")
    print(f"workspace {record.workspace.get('path')} ({record.workspace.get('on', '?')})")
    print(f"started   {record.started_at}   finished {record.finished_at or '-'}")
    for export in record.exports:
        print(f"export    {export['path']}  {export['kind']}  sha256 {export['sha256']}")
    print(f"record    {record.path}")
    return 0


def _which(args: argparse.Namespace) -> int:
    with cli_training() as training:
        lineage = training.which(args.model)
    show(args, lineage, _print_lineage)
    return 0 if lineage.found else 1


def _print_lineage(lineage: Lineage) -> None:
    if not lineage.found:
        print(
            f"no job of this studio exported a model with sha256 {lineage.sha256}",
            file=sys.stderr,
        )
    for record, export in lineage.found:
        print(
            f"{record.job_id}  {export['path']}  image {record.image.get('ref')} "
            f"{record.image.get('digest')}  finished {record.finished_at}"
        )


def _logs(args: argparse.Namespace) -> int:
    with cli_training() as training:
        if not args.follow:
            for line in training.logs(args.job, engine=args.engine, tail=args.tail):
                print(line)
            return 0
        job = training.job(args.job, args.engine)
        with cancel_on_ctrl_c() as cancel:
            ended = training.follow_to_end(
                job, lambda text: print(text, flush=True), tail=args.tail, cancel=cancel
            )
        if not ended:
            return 130
        training.wait(job, timeout_s=30)  # the log ends a moment before the job; finalises it
    return 0


def _stop(args: argparse.Namespace) -> int:
    with cli_training() as training:
        job = training.job(args.job, args.engine)
        if args.kill and job.running:
            outcome = training.kill(job, engine=args.engine)
        else:
            outcome = training.stop(job, engine=args.engine, timeout_s=args.timeout)
    return _ended(args, outcome.job, outcome.provenance)


def _kill(args: argparse.Namespace) -> int:
    with cli_training() as training:
        outcome = training.kill(args.job, engine=args.engine)
    return _ended(args, outcome.job, outcome.provenance)


def _ended(args: argparse.Namespace, job: Any, record: Any) -> int:
    show(
        args,
        {"job": job.to_json(), "provenance": str(record.path)},
        lambda _: print(f"{job.job_id} ({job.name}): {job.exit_reason() or job.state}"),
    )
    return 0


def _rm(args: argparse.Namespace) -> int:
    with cli_training() as training:
        # A running job needs --force (killed first); the provenance is final before it goes.
        job = training.remove(args.job, engine=args.engine, force=args.force).job
    show(
        args,
        {"removed": job.job_id, "name": job.name},
        lambda _: print(f"removed {job.job_id} ({job.name}); provenance kept"),
    )
    return 0


def _wait(args: argparse.Namespace) -> int:
    with cli_training() as training:
        outcome = training.wait(args.job, engine=args.engine, timeout_s=args.timeout)
    job, record = outcome.job, outcome.provenance
    show(
        args,
        {"job": job.to_json(), "provenance": record.to_json() if record else None},
        lambda _: note(f"{job.job_id}: {job.exit_reason()}"),
    )
    code = job.exit_code or 0
    return code if 0 <= code < 256 else 1
