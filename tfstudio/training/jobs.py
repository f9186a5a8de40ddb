"""This studio's jobs on an engine: list, find, stop, kill, remove, wait.

Jobs are found through their labels (`tfstudio.labels`), never through local
state, so they are rediscovered after a restart, and a container this studio
did not start is never listed nor touched: every operation first resolves its
argument among this studio's jobs only.

`list_jobs` reads one-shot stats (no two-sample wait) for every running job
at once, so the list costs about one tick of the engine's stats collector (up
to a second) however many jobs run; `stats=False` skips them and costs about
what `docker ps` does. CPU is the average since the job started, memory the
current use without page cache, as `docker stats` shows it.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from tfstudio.operations import CancelToken, check_cancelled
from tfstudio.training import labels as L
from tfstudio.training.client import EngineClient, docker_sdk
from tfstudio.training.errors import JobError
from tfstudio.training.timefmt import iso, parse_ns
from tfstudio.training.workers import LIVE_STATES, WorkerInfo

PARALLEL = 32
"""Jobs read at once. The engine answers a stats request at its collector's next
tick (once a second), so every running job is asked at the same time; an ssh://
engine gets fewer at once (each is an SSH channel; sshd allows 10 by default)."""
PARALLEL_SSH = 8
MIN_PREFIX = 4
"""Shortest job id prefix accepted, so that a typo does not hit another job."""


@dataclass(frozen=True)
class JobInfo:
    """One job as the engine sees it now."""

    job_id: str
    name: str
    container_id: str
    engine: str
    image_ref: str
    image_id: str
    state: str
    """created, running, paused, restarting, exited, dead."""
    exit_code: int | None
    started_ns: int | None
    finished_ns: int | None
    oom_killed: bool
    created_ns: int | None
    gpus: str
    workspace: str
    command: tuple[str, ...]
    tag_override: str | None = None
    cpu_percent: float | None = None
    """Average CPU use since the job started, in % of one core (running jobs only)."""
    memory_bytes: int | None = None
    memory_limit: int | None = None
    gpu: str | None = None
    """Per-GPU use where NVML finds GPUs; None when nothing is known."""
    workers: tuple[WorkerInfo, ...] = ()
    """A multi-worker job's workers (`tfstudio.training.groups`); empty for one container."""
    failure: str | None = None
    """A multi-worker job that failed: which worker, where, and why."""

    @property
    def running(self) -> bool:
        """True while the container runs (or restarts, or is paused), or while any worker
        of a multi-worker job may still run."""
        return self.state in ("running", "restarting", "paused", *LIVE_STATES)

    @property
    def is_group(self) -> bool:
        """True for a multi-worker job (Swarm services), False for one container."""
        return bool(self.workers)

    @property
    def short_id(self) -> str:
        """The container id's first 12 digits."""
        return self.container_id[:12]

    def exit_reason(self) -> str | None:
        """Returns a few words on how the job ended (None while it runs); a multi-worker
        job that is failing says already which worker failed and why."""
        if self.failure is not None:
            return self.failure
        if self.running or self.exit_code is None:
            return None
        if self.oom_killed:
            return f"killed: out of memory (exit {self.exit_code})"
        if self.exit_code == 137:
            return "killed (SIGKILL, exit 137)"
        if self.exit_code == 143:
            return "stopped (SIGTERM, exit 143)"
        return f"exit {self.exit_code}"

    def to_json(self) -> dict[str, Any]:
        """Returns the job as a JSON-able dict (times as ISO 8601 UTC)."""
        hidden = ("started_ns", "finished_ns", "created_ns", "workers", "failure")
        out = {k: v for k, v in self.__dict__.items() if k not in hidden}
        if self.workers:  # a one-container job's JSON stays as it was
            out["workers"] = [w.to_json() for w in self.workers]
            out["failure"] = self.failure
        out["command"] = list(self.command)
        out["started_at"] = iso(self.started_ns)
        out["finished_at"] = iso(self.finished_ns)
        return out


def job_from_inspect(data: dict[str, Any], engine: str) -> JobInfo:
    """Returns the JobInfo of one `inspect_container` answer."""
    labels = (data.get("Config") or {}).get("Labels") or {}
    state = data.get("State") or {}
    status = str(state.get("Status") or "unknown")
    config = data.get("Config") or {}
    finished = parse_ns(state.get("FinishedAt"))
    exit_code = state.get("ExitCode")
    return JobInfo(
        job_id=labels.get(L.JOB, ""),
        name=str(data.get("Name", "")).lstrip("/"),
        container_id=str(data.get("Id", "")),
        engine=labels.get(L.ENGINE, engine),
        image_ref=labels.get(L.IMAGE_REF, str(config.get("Image", ""))),
        image_id=str(data.get("Image", "")),
        state=status,
        exit_code=int(exit_code)
        if exit_code is not None and status in ("exited", "dead")
        else None,
        started_ns=parse_ns(state.get("StartedAt")),
        finished_ns=finished if status in ("exited", "dead") else None,
        oom_killed=bool(state.get("OOMKilled")),
        created_ns=parse_ns(data.get("Created")),
        gpus=labels.get(L.GPUS, "none"),
        workspace=labels.get(L.WORKSPACE, ""),
        command=tuple(config.get("Cmd") or ()),
        tag_override=labels.get(L.OVERRIDE) or None,
    )


def list_jobs(
    client: EngineClient, studio: str | None = None, *, stats: bool = True
) -> list[JobInfo]:
    """Returns this studio's jobs on the engine, newest first, with stats when asked.

    Raises EngineError.
    """
    studio = studio or L.studio_id()
    with client.call("listing jobs"):
        summaries = client.api.containers(all=True, filters=L.ours_filter(studio))
    ids = [s["Id"] for s in summaries if L.is_ours(s.get("Labels"), studio)]
    if not ids:
        return []
    width = PARALLEL_SSH if client.engine.scheme == "ssh" else PARALLEL
    with ThreadPoolExecutor(max_workers=min(width, len(ids))) as pool:
        jobs = list(pool.map(lambda cid: _inspect_with_stats(client, cid, stats), ids))
    found = [j for j in jobs if j is not None]
    if stats:
        found = annotate_gpu_use(client, found)
    return sorted(found, key=lambda j: -(j.started_ns or 0))


def _inspect_with_stats(client: EngineClient, container_id: str, stats: bool) -> JobInfo | None:
    docker = docker_sdk()
    try:
        with client.call("inspecting a job"):
            job = job_from_inspect(client.api.inspect_container(container_id), client.engine.name)
            if not (stats and job.state == "running"):
                return job
            raw = client.api.stats(container_id, stream=False, one_shot=True)
    except docker.errors.NotFound:
        return None  # removed between the list and the inspect
    return _with_stats(job, raw)


def _with_stats(job: JobInfo, raw: dict[str, Any]) -> JobInfo:
    cpu_ns = ((raw.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage")
    cpu = None
    if cpu_ns is not None and job.started_ns:
        elapsed = max(1, time.time_ns() - job.started_ns)
        cpu = round(100.0 * int(cpu_ns) / elapsed, 1)
    mem = raw.get("memory_stats") or {}
    usage = mem.get("usage")
    if usage is not None:
        details = mem.get("stats") or {}
        # docker stats shows usage without the page cache (cgroup v1: total_inactive_file).
        cache = details.get("total_inactive_file", details.get("inactive_file", 0))
        usage = max(0, int(usage) - int(cache or 0))
    limit = mem.get("limit")
    return replace(
        job,
        cpu_percent=cpu,
        memory_bytes=usage,
        memory_limit=int(limit) if limit else None,
    )


def find_job(client: EngineClient, text: str, studio: str | None = None) -> JobInfo:
    """Returns this studio's job whose id, id prefix, name or container id is `text`.

    Raises JobError when no job (or more than one) matches; containers of other
    studios and hand-started ones never match.
    """
    return match_job(list_jobs(client, studio, stats=False), text, client.engine.name)


def match_job(jobs: list[JobInfo], text: str, engine: str) -> JobInfo:
    """Returns the one job of `jobs` whose id, id prefix, name or container id is `text`.

    Raises JobError when none (or more than one) matches.
    """
    exact = [j for j in jobs if text in (j.job_id, j.name, j.container_id)]
    if len(exact) == 1:
        return exact[0]
    matches = exact or [
        j
        for j in jobs
        if len(text) >= MIN_PREFIX
        and (j.job_id.startswith(text) or (j.container_id and j.container_id.startswith(text)))
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise JobError(
            f"no job {text!r} of this studio on engine {engine}",
            hint="see: tfstudio jobs (containers tfstudio did not start are never touched)",
        )
    names = ", ".join(sorted(j.job_id for j in matches))
    raise JobError(f"{text!r} matches several jobs ({names}); give more of the id")


def refresh(client: EngineClient, job: JobInfo) -> JobInfo:
    """Returns the job re-read from the engine. Raises JobError when it is gone."""
    docker = docker_sdk()
    try:
        with client.call(f"inspecting job {job.job_id}"):
            return job_from_inspect(client.api.inspect_container(job.container_id), job.engine)
    except docker.errors.NotFound:
        raise JobError(f"job {job.job_id} ({job.name}) no longer exists on engine") from None


def stop_job(client: EngineClient, job: JobInfo, timeout_s: float) -> JobInfo:
    """Stops a job gracefully: SIGTERM, then SIGKILL after `timeout_s`. Returns it, ended.

    Stopping a job that already ended is not an error. Raises EngineError, JobError.
    """
    if job.running:
        # The HTTP call lasts as long as the grace period: give it room.
        with client.call(f"stopping job {job.job_id}"):
            client.api.stop(job.container_id, timeout=int(max(0, timeout_s)))
    return refresh(client, job)


def kill_job(client: EngineClient, job: JobInfo, signal: str = "KILL") -> JobInfo:
    """Sends `signal` (default SIGKILL) to a running job and returns it re-read.

    Raises JobError when the job is not running, EngineError.
    """
    if not job.running:
        raise JobError(f"job {job.job_id} is not running ({job.exit_reason() or job.state})")
    with client.call(f"killing job {job.job_id}"):
        client.api.kill(job.container_id, signal=signal)
    return wait_job(client, job, timeout_s=30) if signal == "KILL" else refresh(client, job)


def remove_job(client: EngineClient, job: JobInfo, *, force: bool = False) -> None:
    """Removes a job's container (and its anonymous volumes).

    Provenance must be finalised before (the exports are read from the
    container). Raises JobError for a running job without `force`, EngineError.
    """
    job = refresh(client, job)  # the caller's view may be stale (a TUI row)
    if job.running and not force:
        raise JobError(
            f"job {job.job_id} is still running",
            hint=f"stop it first (tfstudio stop {job.job_id}) or pass --force",
        )
    with client.call(f"removing job {job.job_id}"):
        client.api.remove_container(job.container_id, v=True, force=force)


def wait_job(
    client: EngineClient,
    job: JobInfo,
    *,
    timeout_s: float | None = None,
    cancel: CancelToken | None = None,
    poll_s: float = 0.2,
) -> JobInfo:
    """Waits until the job ends and returns it. Polls, so that `cancel` is honoured.

    Raises JobError on timeout, CancelledError, EngineError.
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        job = refresh(client, job)
        if not job.running:
            return job
        check_cancelled(cancel, f"waiting for job {job.job_id}")
        if deadline is not None and time.monotonic() > deadline:
            raise JobError(f"job {job.job_id} still runs after {timeout_s:g}s")
        time.sleep(poll_s)


def annotate_gpu_use(client: EngineClient, jobs: list[JobInfo]) -> list[JobInfo]:
    """Returns `jobs` with `gpu` set for running jobs that asked for GPUs.

    Only for an engine on this machine (NVML sees local GPUs only); jobs get
    'no GPU' when NVML finds none, so no number is ever invented.
    """
    wanting = [j for j in jobs if j.running and j.gpus != "none"]
    if not wanting or client.engine.remote:
        return jobs
    from tfstudio.training.nvml import read_gpus, summarise

    report = read_gpus()
    out = []
    for job in jobs:
        if job not in wanting:
            out.append(job)
        elif not report.available:
            out.append(replace(job, gpu="no GPU"))
        else:
            out.append(replace(job, gpu=summarise(report, _host_pids(client, job)) or "idle"))
    return out


def _host_pids(client: EngineClient, job: JobInfo) -> set[int]:
    try:
        with client.call(f"listing processes of job {job.job_id}"):
            top = client.api.top(job.container_id, ps_args="-eo pid")
    except Exception:  # noqa: BLE001 - GPU use is best effort; the list must still show
        return set()
    titles = [t.upper() for t in top.get("Titles") or []]
    col = titles.index("PID") if "PID" in titles else 0
    return {int(row[col]) for row in top.get("Processes") or [] if str(row[col]).isdigit()}
