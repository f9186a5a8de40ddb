"""The training half of the `Studio` facade: engines, images, jobs, logs, GPU check, provenance.

`Studio.training` is a `Training`. It speaks the one contract of
`tfstudio.operations`: the training core's own events become `StageStarted`
and throttled `TransferTick`s, one `CancelToken` cancels, and results are
typed with `to_json()` (`tfstudio.studio.training_types`). Engine connections
are kept open between calls (`tfstudio.studio.engines`), and logs are
followed as batched, stoppable streams (`tfstudio.studio.logs`). Host keys of
ssh:// engines are trusted in two calls, with the same offer and trust store
as devices (`tfstudio.fleet.hostkey_offer`).

Nothing here prints or imports docker, paramiko or tensorflow at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfstudio.errors import TfStudioError, UsageError
from tfstudio.operations import (
    CancelToken,
    EventCallback,
    Reporter,
    Stage,
    Throttle,
)
from tfstudio.studio.logs import EndCallback, LinesCallback, LogStream, follow_to_end
from tfstudio.studio.training_groups import GroupTraining, finalize_any
from tfstudio.studio.training_types import (
    EngineJobs,
    JobOutcome,
    JobRef,
    Lineage,
    TrainRequest,
)
from tfstudio.training.tagpolicy import check_ref

if TYPE_CHECKING:
    from tfstudio.training.client import EngineClient
    from tfstudio.training.gpucheck import GpuCheckResult
    from tfstudio.training.groupspec import GroupSpec
    from tfstudio.training.jobs import JobInfo
    from tfstudio.training.jobspec import JobSpec
    from tfstudio.training.launch import LaunchResult
    from tfstudio.training.logs import Follower, LogLine
    from tfstudio.training.provenance import Provenance


class Training(GroupTraining):
    """Training containers for any front end; one per Studio (`studio.training`).

    Engines, their connections and host keys come from `TrainingEngines`
    (`tfstudio.studio.engines`), images (check, list, probe, build) from
    `TrainingImages`, multi-worker jobs on a swarm and their manifests from
    `GroupTraining`; jobs, logs, the GPU check and provenance are here, for a
    one-container job and a multi-worker one alike.
    """

    # -- jobs ---------------------------------------------------------------

    def plan(self, request: TrainRequest) -> JobSpec | GroupSpec:
        """Returns the checked job (a multi-worker one when `request.workers`): tag policy,
        GPUs, limits, env, workspace; nothing is asked of the engine (a form can call it
        before it closes).

        Raises UsageError, TagPolicyError, WorkspaceError, EngineError (unknown engine).
        """
        from tfstudio.training.jobspec import build_spec

        if request.workers is not None:
            return self.plan_group(request)
        engine = self.engine(request.engine)
        return build_spec(engine, self.settings(), request.argv(), **request.spec_words())

    def train(
        self,
        request: TrainRequest,
        *,
        on_event: EventCallback | None = None,
        cancel: CancelToken | None = None,
        attach: bool = False,
    ) -> LaunchResult:
        """Starts a job: the tag policy, limits and workspace are checked before the engine
        is asked; the image is pulled when missing; provenance is recorded at start.

        With `attach`, the job's output is opened before it starts (as `docker
        run` does) and returned as `output`: pass it to `follow_to_end` so the
        first line is neither lost nor late, or close it
        (`tfstudio.training.logs.close_stream`).

        A request with `workers` starts a multi-worker job (`train_group`; there is
        no output to attach to, its log is followed with `follow_to_end`, and a
        detached one gets a guard).

        Events: CONNECT, RESOLVE (PULL ticks), CREATE, START, RUNNING, then
        TargetFinished. Raises UsageError, TagPolicyError, WorkspaceError,
        ImageError, GpuRequestError, JobError, EngineError, CancelledError.
        """
        from tfstudio.training.jobspec import build_spec
        from tfstudio.training.launch import launch

        if request.workers is not None:
            return self.train_group(request, on_event=on_event, cancel=cancel, guard=not attach)
        engine = self.engine(request.engine)
        spec = build_spec(engine, self.settings(), request.argv(), **request.spec_words())
        report = Reporter("train", spec.image.text, Throttle(on_event))
        report.stage(Stage.CONNECT, f"connecting to engine {engine.name}")
        with self._client(engine.name) as client:
            result = launch(
                client,
                spec,
                report=report,
                cancel=cancel,
                attach=attach,
            )
        job = result.job
        report.finished(True, f"job {job.job_id} started", result.to_json())
        return result

    def jobs(self, engine: str | None = None, *, stats: bool = True) -> list[JobInfo]:
        """Returns this studio's jobs on the engine, newest first, with one-shot CPU/memory
        (and GPU use where NVML finds GPUs) when `stats`; multi-worker jobs too (a failing
        one's survivors are stopped). Ended jobs get their final provenance. Raises
        EngineError, HostKeyError, TransportError.
        """
        from tfstudio.training.groups import list_groups
        from tfstudio.training.jobs import list_jobs

        with self._client(engine) as client:
            found = list_jobs(client, stats=stats)
            groups = list_groups(client)
            for job in found + groups:
                if not job.running:
                    finalize_any(client, job)  # a job that ended unwatched is recorded now
        if not groups:
            return found
        return sorted(found + groups, key=lambda j: -(j.started_ns or 0))

    def board(self, engine: str | None = None, *, stats: bool = True) -> EngineJobs:
        """Returns the engine's jobs, or its state with the fix when it cannot be asked.

        Never raises for the engine's faults (down, unknown host key, ...). An
        encrypted key without its passphrase is a state too, naming the key
        (`needs_passphrase`): a front end asks, `connector.remember()`s the
        answer, and reads the board again.
        """
        from tfstudio.fleet.connector import PassphraseRequired

        try:
            chosen = self.engine(engine)
        except TfStudioError as exc:
            return EngineJobs(engine or "?", "", False, error=exc.message, hint=exc.hint)
        gpus = None if chosen.remote else self.gpus().summary()
        try:
            found = self.jobs(chosen.name, stats=stats)
        except PassphraseRequired as exc:
            return EngineJobs(
                chosen.name,
                chosen.url,
                False,
                error=exc.message,
                hint=exc.hint,
                needs_passphrase=exc.key_path,
                passphrase_wrong=exc.wrong,
            )
        except TfStudioError as exc:
            return EngineJobs(
                chosen.name, chosen.url, False, error=exc.message, hint=exc.hint, gpus=gpus
            )
        return EngineJobs(chosen.name, chosen.url, True, tuple(found), gpus=gpus)

    def job(self, job: JobRef, engine: str | None = None) -> JobInfo:
        """Returns the job as the engine sees it now. Raises JobError, EngineError."""
        with self._client(_engine_of(job, engine)) as client:
            return _find(client, job)

    def logs(self, job: JobRef, *, engine: str | None = None, tail: int | None = None) -> list[str]:
        """Returns the job's log so far (the last `tail` lines). Raises JobError, EngineError."""
        from tfstudio.training.grouplogs import read_group_logs
        from tfstudio.training.logs import read_logs

        with self._client(_engine_of(job, engine)) as client:
            found = _find(client, job)
            if found.is_group:
                return read_group_logs(client, found, tail=tail)
            return read_logs(client, found, tail=tail)

    def follow(
        self,
        job: JobRef,
        on_lines: LinesCallback,
        *,
        on_end: EndCallback | None = None,
        engine: str | None = None,
        tail: int | None = None,
    ) -> LogStream:
        """Follows the job's log (from its last `tail` lines) until it ends or `stop()`.

        Opening the stream blocks (call it from a worker); the lines then
        arrive in batches on a thread of their own, and `stop()` returns at
        once from any thread. Several streams may run at once. A multi-worker
        job's lines come from every worker, each with its `[w0]` prefix. Raises
        JobError, EngineError.
        """
        with self._client(_engine_of(job, engine)) as client:
            found = _find(client, job)
            stream = LogStream(found, on_lines, on_end)
            return stream.start(_follower(client, found, stream.line, tail, stream.ended))

    def follow_to_end(
        self,
        job: JobRef,
        on_line: Callable[[str], object],
        *,
        engine: str | None = None,
        tail: int | None = None,
        output: Any = None,
        cancel: CancelToken | None = None,
    ) -> bool:
        """Follows the job's log in the caller's thread, line by line, until it ends or
        `cancel` is set (from a signal handler or another thread).

        Unlike `follow`, nothing is batched or dropped: `on_line` gets every
        line in order (on the reader's thread). `output` is `train(attach=True)`'s
        stream; without it the log is opened from its last `tail` lines.
        Returns True when the log ended (the job did), False when cancelled.
        A multi-worker job's lines carry their worker's `[w0]` prefix, in arrival
        order. Raises JobError, EngineError.
        """
        from tfstudio.training.logs import LogFollower

        def each(line: LogLine) -> None:
            on_line(line.text)

        with self._client(_engine_of(job, engine)) as client:
            found = job if output is not None and not isinstance(job, str) else _find(client, job)
            if found.is_group:
                return follow_to_end(_follower(client, found, each, tail, None), cancel)
            follower = LogFollower(client, found, each, tail=tail, stream=output)
            return follow_to_end(follower, cancel)

    def stop(
        self, job: JobRef, *, engine: str | None = None, timeout_s: float | None = None
    ) -> JobOutcome:
        """Stops a job (SIGTERM, then SIGKILL after `timeout_s`, default `[training]
        stop_timeout`) and finalises its provenance. A multi-worker job stops as a whole,
        each worker with the grace period it started with. Raises JobError, EngineError."""
        from tfstudio.training.groups import stop_group
        from tfstudio.training.jobs import stop_job

        grace = timeout_s if timeout_s is not None else self.settings().stop_timeout_s
        with self._client(_engine_of(job, engine)) as client:
            found = _find(client, job)
            ended = stop_group(client, found) if found.is_group else stop_job(client, found, grace)
            return JobOutcome("stop", ended, finalize_any(client, ended))

    def kill(self, job: JobRef, *, engine: str | None = None) -> JobOutcome:
        """Kills a running job (SIGKILL; every worker of a multi-worker job) and finalises
        its provenance.

        Raises JobError (not running), EngineError.
        """
        from tfstudio.training.groups import kill_group
        from tfstudio.training.jobs import kill_job

        with self._client(_engine_of(job, engine)) as client:
            found = _find(client, job)
            ended = kill_group(client, found) if found.is_group else kill_job(client, found)
            return JobOutcome("kill", ended, finalize_any(client, ended))

    def remove(self, job: JobRef, *, engine: str | None = None, force: bool = False) -> JobOutcome:
        """Removes an ended job's container (a running one with `force`: killed first);
        its provenance is finalised before and kept. A multi-worker job's services go,
        and its network. Raises JobError, EngineError."""
        from tfstudio.training.groups import kill_group, remove_group
        from tfstudio.training.jobs import kill_job, remove_job

        with self._client(_engine_of(job, engine)) as client:
            found = _find(client, job)
            if found.running and force:
                found = kill_group(client, found) if found.is_group else kill_job(client, found)
            record = None if found.running else finalize_any(client, found)
            if found.is_group:
                remove_group(client, found)
            else:
                remove_job(client, found)
        return JobOutcome("remove", found, record)

    def wait(
        self,
        job: JobRef,
        *,
        engine: str | None = None,
        timeout_s: float | None = None,
        cancel: CancelToken | None = None,
    ) -> JobOutcome:
        """Waits for the job's end and finalises its provenance.

        A multi-worker job has ended when every worker has; when one fails, the
        others are stopped. Raises JobError (timeout), CancelledError, EngineError.
        """
        from tfstudio.training.groups import wait_group
        from tfstudio.training.jobs import wait_job

        with self._client(_engine_of(job, engine)) as client:
            found = _find(client, job)
            waiter = wait_group if found.is_group else wait_job
            ended = waiter(client, found, timeout_s=timeout_s, cancel=cancel)
            return JobOutcome("wait", ended, finalize_any(client, ended))

    def provenance(self, job: JobRef, *, engine: str | None = None) -> Provenance:
        """Returns the job's record: final once it ended (exports with their hashes,
        exit code, applied limits). A removed job's stored record is returned as is.
        Raises JobError (no such job, no record), EngineError, ConfigError.
        """
        from tfstudio.training import provenance
        from tfstudio.training.errors import JobError
        from tfstudio.training.labels import is_job_id

        try:
            with self._client(_engine_of(job, engine)) as client:
                return finalize_any(client, _find(client, job))
        except JobError:
            job_id = job if isinstance(job, str) else job.job_id
            stored = provenance.load(job_id) if is_job_id(job_id) else None
            if stored is None:
                raise
            return stored

    def which(self, model: str | Path) -> Lineage:
        """Returns the jobs of this studio that exported `model` (a SavedModel, .keras or
        .h5, or a convert manifest, whose source hash is used), newest first.

        Raises UsageError (a .json that is not a convert manifest), SourceModelError.
        """
        import json

        from tfstudio.models.source import probe_source
        from tfstudio.training.provenance import find_exports

        path = Path(model)
        if path.suffix == ".json" and path.is_file():
            try:
                sha = json.loads(path.read_text(encoding="utf-8"))["source"]["sha256"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise UsageError(f"{path} is not a convert manifest (no source.sha256)") from exc
        else:
            sha = probe_source(path).sha256
        return Lineage(sha, tuple(find_exports(sha)))

    def gpu_check(
        self,
        image: str | None = None,
        gpus: str | None = None,
        *,
        engine: str | None = None,
        allow_latest: bool = False,
        timeout_s: float = 300.0,
        on_event: EventCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> GpuCheckResult:
        """Runs TensorFlow's GPU check inside `image` (default `[training] image`) with
        `gpus` (default `[training] gpus`): a verdict with its hint, and a timed matmul.

        Raises UsageError (no image), TagPolicyError, GpuRequestError (no
        NVIDIA runtime), ImageError, EngineError, CancelledError.
        """
        from tfstudio.training.gpucheck import run_gpu_check
        from tfstudio.training.limits import parse_gpus

        settings = self.settings()
        chosen = image or settings.image
        if not chosen:
            raise UsageError("no image given", hint="name an image or set [training] image")
        ref = check_ref(chosen, allow_latest=allow_latest, what="the GPU check")
        request = parse_gpus(gpus) if gpus is not None else settings.gpus
        report = Reporter("gpu-check", ref.text, Throttle(on_event))
        report.stage(Stage.CONNECT, "connecting to the engine")
        with self._client(engine) as client:
            result = run_gpu_check(
                client,
                ref,
                request,
                pull=settings.pull,
                timeout_s=timeout_s,
                report=report,
                cancel=cancel,
            )
        report.finished(True, result.message, result.to_json())
        return result


def _engine_of(job: JobRef, engine: str | None) -> str | None:
    return engine or (None if isinstance(job, str) else job.engine)


def _find(client: EngineClient, job: JobRef) -> JobInfo:
    from tfstudio.training.groups import find_any, refresh_group
    from tfstudio.training.jobs import refresh

    # A JobInfo from a table row may be stale: read it again before acting on it.
    if isinstance(job, str):
        return find_any(client, job)
    return refresh_group(client, job) if job.is_group else refresh(client, job)


def _follower(
    client: EngineClient,
    job: JobInfo,
    on_line: Callable[[LogLine], None],
    tail: int | None,
    on_end: Callable[[TfStudioError | None], None] | None,
) -> Follower:
    """Returns the log follower of a job: every worker's for a multi-worker job."""
    from tfstudio.training.grouplogs import GroupLogFollower
    from tfstudio.training.logs import LogFollower

    if job.is_group:
        return GroupLogFollower(client, job, on_line, tail=tail, on_end=on_end)
    return LogFollower(client, job, on_line, tail=tail, on_end=on_end)
