"""The words the job views show: a job's row, its details and provenance, an engine's
state with its fix, a GPU check's verdict. Plain functions of core values (Rich
markup out), shared by the jobs view and the dashboard's Jobs pane.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from tfstudio.formatting import ago, human_bytes

if TYPE_CHECKING:
    from tfstudio.studio.training_types import EngineJobs, EngineReport
    from tfstudio.studio.types import GpuCheckResult, JobInfo, Provenance

COLUMNS = ("job", "state", "time", "cpu", "mem", "gpu", "image")


def state(job: JobInfo) -> str:
    """Returns 'running', 'exit 0', 'oom 137', 'failed 137' (a multi-worker job), ..."""
    if job.failure is not None and not job.running:
        return f"failed {job.exit_code}"
    if job.running or job.exit_code is None:
        return job.state
    return f"oom {job.exit_code}" if job.oom_killed else f"exit {job.exit_code}"


def when(job: JobInfo) -> str:
    """Returns 'up 12s' for a running job, '3m ago' for one that ended."""
    if job.running:
        return f"up {ago(job.started_ns)}" if job.started_ns else "starting"
    return f"{ago(job.finished_ns)} ago" if job.finished_ns else "-"


def memory(job: JobInfo) -> str:
    """Returns the memory in use, e.g. '188.5 MiB', or '-' (the limit is in provenance)."""
    return "-" if job.memory_bytes is None else human_bytes(job.memory_bytes)


def row(job: JobInfo) -> list[str]:
    """Returns the cells of COLUMNS; GPU use only where NVML measured it, else 'no GPU'."""
    cpu = f"{job.cpu_percent:.0f}%" if job.cpu_percent is not None else "-"
    return [job.job_id, state(job), when(job), cpu, memory(job), job.gpu or "no GPU", job.image_ref]


def engine_line(board: EngineJobs, report: EngineReport | None = None) -> str:
    """Returns the engine's state in one or two lines: what it is, or why not and the fix."""
    if not board.reachable:
        fix = f"\n  [b]fix:[/b] {board.hint}" if board.hint else ""
        return f"[$error]✗[/] {board.error or 'engine ' + board.engine + ' is not reachable'}{fix}"
    parts = [f"[$success]●[/] engine [b]{board.engine}[/b]", board.url]
    status = _status(report, board.engine)
    if status is not None and status.reachable:
        parts.append(f"Docker {status.server_version}")
        parts.append("NVIDIA runtime" if status.nvidia_runtime else "no NVIDIA runtime")
    if board.gpus:
        parts.append(board.gpus)
    return " · ".join(parts)


def _status(report: EngineReport | None, name: str) -> Any:
    if report is None:
        return None
    return next((s for s in report.statuses if s.name == name), None)


def details(job: JobInfo) -> str:
    """Returns what the engine says about the job (the side panel's top)."""
    lines = [
        f"[b]{job.job_id}[/b] {job.name}",
        f"{job.exit_reason() or job.state} · {when(job)}",
        f"[dim]image[/] {job.image_ref}",
        f"[dim]cmd[/] {shlex.join(job.command)}",
        f"[dim]gpus[/] {job.gpus} asked · {job.gpu or 'no GPU measured'}",
        f"[dim]workspace[/] {job.workspace}",
    ]
    if job.tag_override:
        lines.append(f"[$warning]override[/] {job.tag_override}")
    for worker in job.workers:
        lines.append(f"[dim]{worker.label}[/] {worker.node or '-'} · {worker.reason()}")
    return "\n".join(lines)


def provenance(record: Provenance) -> str:
    """Returns the provenance panel: image digest, limits as applied, times, exports."""
    image = record.image
    digest = str(image.get("digest") or "-")
    ended = record.finished_at or "-"
    if record.exit_code is not None:
        ended += f" (exit {record.exit_code})"
    lines = [
        "[b]provenance[/b]" + (" (final)" if record.final else " (final when the job ends)"),
        f"[dim]digest[/] {digest[:19] + '…' if len(digest) > 19 else digest}"
        f" ({image.get('digest_kind') or '?'})",
        f"[dim]limits[/] {_limits(record)}",
        f"[dim]started[/] {record.started_at or record.launched_at or '-'}",
        f"[dim]ended[/] {ended}",
    ]
    for export in record.exports:
        sha = str(export.get("sha256") or "")[:12]
        lines.append(f"[dim]export[/] {export.get('path')} {export.get('kind', '')} {sha}")
    if record.final and not record.exports:
        lines.append("[dim]exports[/] none under workspace/exports/")
    lines.append(f"[dim]{record.path}[/]")
    return "\n".join(lines)


def _limits(record: Provenance) -> str:
    applied = record.host_config
    if applied:
        cpus = (applied.get("NanoCpus") or 0) / 1e9
        mem = applied.get("Memory") or 0
        shm = applied.get("ShmSize") or 0
    else:
        asked = record.request.get("limits") or {}
        cpus = asked.get("cpus") or 0
        mem = asked.get("memory_bytes") or 0
        shm = asked.get("shm_bytes") or 0
    return (
        f"cpus {cpus:g} · " if cpus else "cpus - · "
    ) + f"mem {human_bytes(mem) if mem else '-'} · shm {human_bytes(shm) if shm else '-'}"


def gpu_check(result: GpuCheckResult) -> str:
    """Returns the GPU check's verdict, message and hint."""
    mark = "[$success]✓[/]" if result.verdict.value == "gpu_usable" else "[$warning]![/]"
    lines = [
        f"[b]GPU check[/b]  {result.image}",
        f"gpus {result.gpus_requested} · engine {result.engine}",
        "",
        f"{mark} [b]{result.verdict.value.replace('_', ' ')}[/b]",
        result.message,
        "",
        f"[b]hint:[/b] {result.hint}",
    ]
    if result.gflops:
        lines.append(f"{result.gflops:.1f} GFLOP/s · replicas {result.replicas}")
    return "\n".join(lines)
