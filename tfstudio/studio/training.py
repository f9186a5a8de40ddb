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

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfstudio.errors import TfStudioError, UsageError
from tfstudio.operations import (
    CancelToken,
    EventCallback,
    Reporter,
    Stage,
    StageStarted,
    TargetFinished,
    Throttle,
)
from tfstudio.studio.engines import EnginePool
from tfstudio.studio.images import TrainingImages
from tfstudio.studio.logs import EndCallback, LinesCallback, LogStream, follow_to_end
from tfstudio.studio.training_types import (
    EngineJobs,
    EngineReport,
    JobOutcome,
    JobRef,
    TrainRequest,
)
from tfstudio.training.engines import Engine, get_engine, list_engines
from tfstudio.training.errors import EngineError
from tfstudio.training.settings import TrainingSettings, training_settings
from tfstudio.training.tagpolicy import check_ref

if TYPE_CHECKING:
    from tfstudio.config import Config
    from tfstudio.fleet.connector import Connector
    from tfstudio.fleet.hostkey_offer import HostKeyOffer
    from tfstudio.training.client import EngineClient
    from tfstudio.training.gpucheck import GpuCheckResult
    from tfstudio.training.jobs import JobInfo
    from tfstudio.training.jobspec import JobSpec
    from tfstudio.training.launch import LaunchResult
    from tfstudio.training.nvml import GpuReport
    from tfstudio.training.provenance import Provenance


class Training(TrainingImages):
    """Training containers for any front end; one per Studio (`studio.training`).

    Images (check, list, probe, build) come from `TrainingImages`.
    """

    def __init__(self, connector: Connector) -> None:
        self._connector = connector
        self._pool = EnginePool(connector)
        self._gpus: GpuReport | None = None

    @property
    def connector(self) -> Connector:
        """The studio's connector (SSH keys and their passphrases)."""
        return self._connector

    @property
    def _config(self) -> Config:
        # The connector's, which `Studio.reload_config` replaces.
        return self._connector.config

    # -- settings and engines ------------------------------------------------

    def settings(self) -> TrainingSettings:
        """Returns the `[training]` defaults. Raises ConfigError."""
        return training_settings(self._config)

    def engine(self, name: str | None = None) -> Engine:
        """Returns engine `name` (default: `[training] engine`). Raises EngineError."""
        return get_engine(name or self.settings().engine, self._config)

    def engines(self) -> list[Engine]:
        """Returns `local`, then configured and registered engines. Raises ConfigError."""
        return list_engines(self._config)

    def add_engine(self, engine: Engine, *, replace_existing: bool = False) -> Engine:
        """Validates and registers `engine`; returns it as stored. Raises EngineError."""
        from tfstudio.training.engines import add_engine

        self._pool.drop(engine.name)
        return add_engine(engine, replace_existing=replace_existing)

    def remove_engine(self, name: str) -> Engine:
        """Forgets a registered engine (never `local`). Raises EngineError."""
        from tfstudio.training.engines import remove_engine

        self._pool.drop(name)
        return remove_engine(name)

    def check_engines(
        self, names: Sequence[str] | None = None, *, on_event: EventCallback | None = None
    ) -> EngineReport:
        """Checks engines (default: all) in parallel: reachable, version, NVIDIA runtime, GPUs.

        An engine that cannot be reached is a status with its reason and fix,
        never an exception. Raises EngineError for an unknown name.
        """
        from tfstudio.training.enginecheck import check_engines

        engines = [self.engine(n) for n in names] if names else self.engines()
        emit = Throttle(on_event)
        for e in engines:
            emit(StageStarted("engines", e.name, Stage.CHECK, f"checking {e.url}"))
        statuses = check_engines(engines, connect_timeout=self._config.connect_timeout_s)
        for s in statuses:
            message = f"Docker {s.server_version}" if s.reachable else (s.error or "")
            emit(TargetFinished("engines", s.name, s.reachable, message, s.to_json()))
        return EngineReport(tuple(statuses))

    def scan_engine_key(self, name: str) -> HostKeyOffer:
        """Returns the host key an ssh:// engine offers (unknown/trusted/changed); records nothing.

        The same offer as a device's, in the same trust store. Raises
        EngineError (not ssh://), TransportError, HostKeyError.
        """
        from tfstudio.fleet import hostkey_offer

        return hostkey_offer.scan(
            self._engine_as_device(name), connect_timeout=self._config.connect_timeout_s
        )

    def record_engine_key(self, offer: HostKeyOffer, *, replace: bool = False) -> Path:
        """Records the engine key the user confirmed; returns the file. Raises HostKeyError."""
        from tfstudio.fleet import hostkey_offer

        self._pool.drop(offer.device)
        return hostkey_offer.record(offer, replace=replace)

    def gpus(self) -> GpuReport:
        """Returns NVML's view of this machine's GPUs, or an honest 'no GPU' with why."""
        from tfstudio.training.nvml import read_gpus

        if self._gpus is None or self._gpus.available:
            self._gpus = read_gpus()  # no GPU stays no GPU; a GPU's use changes
        return self._gpus

    # -- jobs ---------------------------------------------------------------

    def plan(self, request: TrainRequest) -> JobSpec:
        """Returns the checked job: tag policy, GPUs, limits, env, workspace; nothing
        is asked of the engine (a form can call it before it closes).

        Raises UsageError, TagPolicyError, WorkspaceError, EngineError (unknown engine).
        """
        from tfstudio.training.jobspec import build_spec

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

        Events: CONNECT, RESOLVE (PULL ticks), CREATE, START, RUNNING, then
        TargetFinished. Raises UsageError, TagPolicyError, WorkspaceError,
        ImageError, GpuRequestError, JobError, EngineError, CancelledError.
        """
        from tfstudio.training.launch import launch

        engine = self.engine(request.engine)
        spec = self.plan(request)
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
        (and GPU use where NVML finds GPUs) when `stats`. Ended jobs get their final
        provenance. Raises EngineError, HostKeyError, TransportError.
        """
        from tfstudio.training.jobs import list_jobs
        from tfstudio.training.provenance import finalize

        with self._client(engine) as client:
            found = list_jobs(client, stats=stats)
            for job in found:
                if not job.running:
                    finalize(client, job)  # a job that ended unwatched is recorded now
        return found

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
        from tfstudio.training.logs import read_logs

        with self._client(_engine_of(job, engine)) as client:
            return read_logs(client, _find(client, job), tail=tail)

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
        once from any thread. Several streams may run at once. Raises
        JobError, EngineError.
        """
        from tfstudio.training.logs import LogFollower

        with self._client(_engine_of(job, engine)) as client:
            found = _find(client, job)
            stream = LogStream(found, on_lines, on_end)
            return stream.start(
                LogFollower(client, found, stream.line, tail=tail, on_end=stream.ended)
            )

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
        Raises JobError, EngineError.
        """
        from tfstudio.training.logs import LogFollower, LogLine

        def each(line: LogLine) -> None:
            on_line(line.text)

        with self._client(_engine_of(job, engine)) as client:
            found = job if output is not None and not isinstance(job, str) else _find(client, job)
            follower = LogFollower(client, found, each, tail=tail, stream=output)
            return follow_to_end(follower, cancel)

    def stop(
        self, job: JobRef, *, engine: str | None = None, timeout_s: float | None = None
    ) -> JobOutcome:
        """Stops a job (SIGTERM, then SIGKILL after `timeout_s`, default `[training]
        stop_timeout`) and finalises its provenance. Raises JobError, EngineError."""
        from tfstudio.training.jobs import stop_job
        from tfstudio.training.provenance import finalize

        grace = timeout_s if timeout_s is not None else self.settings().stop_timeout_s
        with self._client(_engine_of(job, engine)) as client:
            ended = stop_job(client, _find(client, job), grace)
            return JobOutcome("stop", ended, finalize(client, ended))

    def kill(self, job: JobRef, *, engine: str | None = None) -> JobOutcome:
        """Kills a running job (SIGKILL) and finalises its provenance.

        Raises JobError (not running), EngineError.
        """
        from tfstudio.training.jobs import kill_job
        from tfstudio.training.provenance import finalize

        with self._client(_engine_of(job, engine)) as client:
            ended = kill_job(client, _find(client, job))
            return JobOutcome("kill", ended, finalize(client, ended))

    def remove(self, job: JobRef, *, engine: str | None = None, force: bool = False) -> JobOutcome:
        """Removes an ended job's container (a running one with `force`: killed first);
        its provenance is finalised before and kept. Raises JobError, EngineError."""
        from tfstudio.training.jobs import kill_job, remove_job
        from tfstudio.training.provenance import finalize

        with self._client(_engine_of(job, engine)) as client:
            found = _find(client, job)
            if found.running and force:
                found = kill_job(client, found)
            record = None if found.running else finalize(client, found)
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

        Raises JobError (timeout), CancelledError, EngineError.
        """
        from tfstudio.training.jobs import wait_job
        from tfstudio.training.provenance import finalize

        with self._client(_engine_of(job, engine)) as client:
            ended = wait_job(client, _find(client, job), timeout_s=timeout_s, cancel=cancel)
            return JobOutcome("wait", ended, finalize(client, ended))

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
                return provenance.finalize(client, _find(client, job))
        except JobError:
            job_id = job if isinstance(job, str) else job.job_id
            stored = provenance.load(job_id) if is_job_id(job_id) else None
            if stored is None:
                raise
            return stored

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

    # -- connections --------------------------------------------------------

    def close(self) -> None:
        """Closes every engine connection (a later call opens a fresh one)."""
        self._pool.close()

    @contextlib.contextmanager
    def _client(self, name: str | None) -> Iterator[EngineClient]:
        with self._pool.client(self.engine(name)) as client:
            yield client

    def _engine_as_device(self, name: str) -> Any:
        from tfstudio.fleet.registry import Device

        engine = self.engine(name)
        if engine.scheme != "ssh":
            raise EngineError(
                f"engine {engine.name} is {engine.scheme}://, not reached over SSH: "
                "there is no host key to trust"
            )
        user, host, port = engine.ssh_parts()
        return Device(
            name=engine.name, host=host, port=port, user=user, ssh_config=engine.ssh_config
        )


def _engine_of(job: JobRef, engine: str | None) -> str | None:
    return engine or (None if isinstance(job, str) else job.engine)


def _find(client: EngineClient, job: JobRef) -> JobInfo:
    from tfstudio.training.jobs import find_job, refresh

    # A JobInfo from a table row may be stale: read it again before acting on it.
    return find_job(client, job) if isinstance(job, str) else refresh(client, job)
