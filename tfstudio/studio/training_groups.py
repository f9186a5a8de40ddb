"""Multi-worker jobs for the facade (`Studio.training`): plan, start on a swarm, guard, and
write the same job as Kubernetes manifests.

`GroupTraining` is a base class of `tfstudio.studio.training.Training`, whose
job calls (jobs, logs, follow, stop, kill, remove, wait, provenance) take a
multi-worker job as they take a one-container one. A detached multi-worker
job gets a guard: a `tfstudio jobs wait JOB` process of its own session,
which stops the other workers when one fails (a MultiWorkerMirroredStrategy
cluster with a dead peer waits forever) and finalises the provenance; its
output goes to `TFSTUDIO_HOME/jobs/<id>/guard.log`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tfstudio.errors import UsageError
from tfstudio.operations import CancelToken, EventCallback, Reporter, Stage, Throttle
from tfstudio.studio.images import TrainingImages
from tfstudio.studio.training_types import TrainRequest

if TYPE_CHECKING:
    from tfstudio.training.client import EngineClient
    from tfstudio.training.groupspec import GroupSpec
    from tfstudio.training.jobs import JobInfo
    from tfstudio.training.k8s import Manifests
    from tfstudio.training.launch import LaunchResult
    from tfstudio.training.provenance import Provenance

GUARD_LOG = "guard.log"


class GroupTraining(TrainingImages):
    """Multi-worker jobs: Swarm services, one per worker, or Kubernetes manifests."""

    def plan_group(self, request: TrainRequest) -> GroupSpec:
        """Returns the checked multi-worker job (no engine is asked). Raises UsageError,
        TagPolicyError, WorkspaceError, EngineError (unknown engine)."""
        from tfstudio.training.groupspec import build_group_spec

        engine = self.engine(request.engine)
        return build_group_spec(engine, self.settings(), request.argv(), **request.group_words())

    def train_group(
        self,
        request: TrainRequest,
        *,
        on_event: EventCallback | None = None,
        cancel: CancelToken | None = None,
        guard: bool = True,
    ) -> LaunchResult:
        """Starts a multi-worker job on the engine's swarm: one service per worker with its
        own `TF_CONFIG`, on the job's own overlay network; with `guard`, a guard process
        watches it (see the module).

        Events: CONNECT, CHECK, RESOLVE (PULL ticks), CREATE, START, RUNNING, then
        TargetFinished. Raises UsageError, TagPolicyError, WorkspaceError, SwarmError,
        GpuRequestError, ImageError, EngineError, CancelledError.
        """
        from tfstudio.training.grouplaunch import launch_group

        spec = self.plan_group(request)
        engine = self.engine(request.engine)
        report = Reporter("train", spec.job.image.text, Throttle(on_event))
        report.stage(Stage.CONNECT, f"connecting to engine {engine.name}")
        with self._client(engine.name) as client:
            result = launch_group(client, spec, report=report, cancel=cancel)
        if guard:
            self.guard(result.job)
        report.finished(True, f"job {result.job.job_id} started", result.to_json())
        return result

    def guard(self, job: JobInfo) -> Path:
        """Starts the guard of a multi-worker job (a `jobs wait` process that outlives this
        one) and returns its log file. Raises OutputError (no job folder)."""
        from tfstudio.training.provenance import job_dir

        log = job_dir(job.job_id) / GUARD_LOG
        log.parent.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "tfstudio", "jobs", "wait", job.job_id, "--engine"]
        with open(log, "ab") as out:
            subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [*argv, job.engine],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in this terminal does not reach it
                env=os.environ.copy(),
                close_fds=True,
            )
        return log

    def emit_k8s(self, request: TrainRequest, directory: str | Path) -> Manifests:
        """Writes the job as Kubernetes manifests (an Indexed Job and a headless Service)
        into `directory`; no engine or cluster is asked.

        Raises UsageError (no --workers, GPUs not a count, a workspace that is not a
        path on the cluster's nodes), TagPolicyError, OutputError.
        """
        from tfstudio.training.groupspec import build_group_spec
        from tfstudio.training.k8s import emit_k8s

        if not request.workers:
            raise UsageError("--emit k8s needs --workers N (1 or more)")
        spec = build_group_spec(
            None, self.settings(), request.argv(), least=1, **request.group_words()
        )
        return emit_k8s(spec, Path(directory))


def finalize_any(client: EngineClient, job: JobInfo) -> Provenance:
    """Returns the job's record, final once it ended: a multi-worker job's or a container's."""
    if job.is_group:
        from tfstudio.training.groupprov import finalize_group

        return finalize_group(client, job)
    from tfstudio.training.provenance import finalize

    return finalize(client, job)
