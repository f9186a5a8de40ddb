"""The workers of a multi-worker job, and the group's state read from them.

Each worker is one Swarm service with one replica and no restart, so its
state is the state of that service's first task: pending until a node runs
it, then running, then complete (exit 0), failed (another exit code),
rejected (it could not start there: a missing bind path, an image the node
lacks) or shutdown (tfstudio stopped it). Pure functions over the engine's
JSON (`inspect_service`, `tasks`), tested offline on captured answers.

The group's rule is MultiWorkerMirroredStrategy's: every worker takes part in
every step, so one worker that fails fails the group (`failing` until the
others are stopped, then `failed`), and the group exits 0 only when every
worker does. A worker tfstudio stopped (the user's stop or kill, or the
group failing) carries labels saying so, so it is never taken for the cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tfstudio.training.timefmt import iso, parse_ns

STOPPED_BY = "tfstudio.stopped.by"
"""Service label set before tfstudio stops a worker: `stop`, `kill` or `group`."""
STOPPED_AT = "tfstudio.stopped.at"
"""When (ns, this machine's clock) tfstudio asked the worker to stop."""
WORKER = "tfstudio.worker"
"""The worker's index (a service and a container label)."""
WORKERS = "tfstudio.workers"
"""How many workers the group has (a service label)."""

ENDED = ("complete", "failed", "shutdown", "rejected", "orphaned", "remove")
"""Task states after which the worker never runs again (restart condition none)."""
FAILED = ("failed", "rejected", "orphaned")
REJECTED_EXIT = 125
"""The exit code of a worker that never started (`docker run`'s code for the same)."""
LIVE_STATES = ("starting", "running", "failing")
"""Group states during which some worker may still run."""


@dataclass(frozen=True)
class WorkerInfo:
    """One worker of a group as the swarm sees it now."""

    index: int
    service: str
    service_id: str
    state: str
    """The task's state (`pending` before the swarm made a task)."""
    exit_code: int | None = None
    message: str = ""
    """The swarm's word on the task: its error, or its status message."""
    node_id: str | None = None
    node: str | None = None
    """The node's hostname, when known."""
    container_id: str | None = None
    task_id: str | None = None
    changed_ns: int | None = None
    """When the task last changed state (the node's clock)."""
    created_ns: int | None = None
    stopped_by: str | None = None

    @property
    def ended(self) -> bool:
        """True once the worker's task can no longer run."""
        return self.state in ENDED

    @property
    def failed(self) -> bool:
        """True when the worker ended badly on its own (not stopped by tfstudio)."""
        return self.state in FAILED and self.stopped_by is None

    @property
    def label(self) -> str:
        """`w0`, `w1`, ...: the prefix of its log lines."""
        return f"w{self.index}"

    def reason(self) -> str:
        """Returns how the worker is or ended, in a few words."""
        if self.state == "rejected":
            return f"rejected: {self.message}" if self.message else "rejected"
        if self.state == "orphaned":
            return "orphaned (its node left the swarm or is down)"
        if not self.ended:
            if self.state == "running" or not self.message or self.message == self.state:
                return self.state
            return f"{self.state}: {self.message}"
        code = self.exit_code
        if code is None:
            return self.state
        how = {137: "killed (SIGKILL, exit 137)", 143: "stopped (SIGTERM, exit 143)"}
        words = how.get(code, f"exit {code}")
        if self.stopped_by is not None and code != 0:
            return f"{words}, by tfstudio ({self.stopped_by})"
        return words

    def to_json(self) -> dict[str, Any]:
        """Returns the worker as a JSON-able dict."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("changed_ns", "created_ns")}
        out["changed_at"] = iso(self.changed_ns)
        out["reason"] = self.reason()
        return out


@dataclass(frozen=True)
class GroupState:
    """The group's state word, exit code and, when it failed, which worker and why."""

    state: str
    exit_code: int | None
    failure: str | None


def worker_from(
    service: dict[str, Any], tasks: list[dict[str, Any]], nodes: dict[str, str]
) -> WorkerInfo:
    """Returns the worker of one service from its inspect answer, its tasks and node names.

    The worker's task is the service's first one: with restart condition
    none the swarm makes no other, except the one that waits, unplaceable,
    after tfstudio stopped the worker (see `tfstudio.training.swarm.park`).
    """
    spec = service.get("Spec") or {}
    labels = spec.get("Labels") or {}
    mine = sorted(
        (t for t in tasks if t.get("ServiceID") == service.get("ID")),
        key=lambda t: (parse_ns(t.get("CreatedAt")) or 0, str(t.get("ID"))),
    )
    base = WorkerInfo(
        index=_int(labels.get(WORKER), -1),
        service=str(spec.get("Name", "")),
        service_id=str(service.get("ID", "")),
        state="pending",
        created_ns=parse_ns(service.get("CreatedAt")),
        stopped_by=labels.get(STOPPED_BY) or None,
    )
    if not mine:
        return base
    task = mine[0]
    status = task.get("Status") or {}
    container = status.get("ContainerStatus") or {}
    state = str(status.get("State") or "pending")
    code = container.get("ExitCode")
    node_id = task.get("NodeID") or None
    return WorkerInfo(
        index=base.index,
        service=base.service,
        service_id=base.service_id,
        state=state,
        exit_code=int(code) if code is not None and state in ENDED else None,
        message=str(status.get("Err") or status.get("Message") or ""),
        node_id=node_id,
        node=nodes.get(node_id) if node_id else None,
        container_id=container.get("ContainerID") or None,
        task_id=str(task.get("ID") or "") or None,
        changed_ns=parse_ns(status.get("Timestamp")),
        created_ns=base.created_ns,
        stopped_by=base.stopped_by,
    )


def group_state(workers: list[WorkerInfo]) -> GroupState:
    """Returns the group's state: `starting`, `running`, `failing`, `failed` or `exited`.

    The first worker to fail (by the time its task changed, then by index) is
    the cause; while others still run the group is `failing` (they are to be
    stopped), and `failed` once every worker has ended.
    """
    failed = sorted((w for w in workers if w.failed), key=lambda w: (w.changed_ns or 0, w.index))
    alive = [w for w in workers if not w.ended]
    if failed:
        cause = failed[0]
        where = f" on {cause.node}" if cause.node else ""
        failure = f"worker {cause.index} failed{where}: {cause.reason()}"
        code = cause.exit_code if cause.exit_code not in (None, 0) else REJECTED_EXIT
        return GroupState("failing" if alive else "failed", None if alive else code, failure)
    if alive:
        running = all(w.state == "running" for w in alive)
        return GroupState("running" if running else "starting", None, None)
    ordered = sorted(workers, key=lambda w: w.index)
    stopped = [w.exit_code for w in ordered if w.stopped_by is not None and w.exit_code]
    return GroupState("exited", stopped[0] if stopped else 0, None)


def _int(text: Any, default: int) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return default
