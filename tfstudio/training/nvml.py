"""GPUs as NVIDIA's management library (NVML, through `nvidia-ml-py`) sees them on this machine.

Where NVML finds GPUs, `read_gpus()` reports each GPU's utilisation and memory
and `summarise` shapes one job's share (`tfstudio.training.jobs` matches a
container's host PIDs with NVML's compute processes). Where it
does not (no package, no driver library, no device), the answer is an honest
"no GPU" with the reason, never a number. NVML runs on this machine only: for
a remote engine nothing is claimed.

Reading (`read_gpus`) and shaping (`summarise`) are separate, so the shaping is
tested on plain values.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any

_LOCK = threading.Lock()
"""NVML calls are made from worker threads; nvmlInit/Shutdown are process-global."""


@dataclass(frozen=True)
class GpuReading:
    """One GPU now: index, name, utilisation %, memory used and total (bytes)."""

    index: int
    name: str
    uuid: str
    utilization_percent: int
    memory_used: int
    memory_total: int
    processes: tuple[tuple[int, int], ...] = ()
    """(host pid, GPU memory bytes) of compute processes on this GPU."""

    def to_json(self) -> dict[str, Any]:
        """Returns the reading as a dict."""
        out = dict(self.__dict__)
        out["processes"] = [{"pid": p, "memory_bytes": m} for p, m in self.processes]
        return out


@dataclass(frozen=True)
class GpuReport:
    """What NVML says about this machine: GPUs, or why there are none."""

    gpus: tuple[GpuReading, ...]
    driver: str | None
    reason: str | None
    """Why no GPU is reported (None when GPUs were found)."""

    @property
    def available(self) -> bool:
        """True when NVML found at least one GPU."""
        return bool(self.gpus)

    def summary(self) -> str:
        """Returns one line: 'no GPU (why)' or 'N GPU(s): name, ...'."""
        if not self.gpus:
            return f"no GPU ({self.reason})"
        names = ", ".join(f"{g.index}: {g.name}" for g in self.gpus)
        return f"{len(self.gpus)} GPU(s), driver {self.driver}: {names}"

    def to_json(self) -> dict[str, Any]:
        """Returns {available, driver, reason, gpus}."""
        return {
            "available": self.available,
            "driver": self.driver,
            "reason": self.reason,
            "gpus": [g.to_json() for g in self.gpus],
        }


def read_gpus() -> GpuReport:
    """Returns this machine's GPUs from NVML, or a report saying why there are none."""
    try:
        import pynvml
    except ImportError:
        return GpuReport((), None, "nvidia-ml-py is not installed: pip install 'tfstudio[gpu]'")
    with _LOCK:
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            return GpuReport((), None, f"NVML unavailable: {exc}")
        try:
            return _read(pynvml)
        except pynvml.NVMLError as exc:
            return GpuReport((), None, f"NVML failed: {exc}")
        finally:
            with contextlib.suppress(pynvml.NVMLError):
                pynvml.nvmlShutdown()


def _read(nv: Any) -> GpuReport:
    driver = _text(nv.nvmlSystemGetDriverVersion())
    gpus = []
    for index in range(nv.nvmlDeviceGetCount()):
        handle = nv.nvmlDeviceGetHandleByIndex(index)
        util = nv.nvmlDeviceGetUtilizationRates(handle)
        mem = nv.nvmlDeviceGetMemoryInfo(handle)
        procs: list[tuple[int, int]] = []
        with contextlib.suppress(nv.NVMLError):
            for proc in nv.nvmlDeviceGetComputeRunningProcesses(handle):
                procs.append((int(proc.pid), int(proc.usedGpuMemory or 0)))
        gpus.append(
            GpuReading(
                index=index,
                name=_text(nv.nvmlDeviceGetName(handle)),
                uuid=_text(nv.nvmlDeviceGetUUID(handle)),
                utilization_percent=int(util.gpu),
                memory_used=int(mem.used),
                memory_total=int(mem.total),
                processes=tuple(procs),
            )
        )
    if not gpus:
        return GpuReport((), driver, "NVML found no GPU")
    return GpuReport(tuple(gpus), driver, None)


def summarise(report: GpuReport, pids: set[int]) -> str | None:
    """Returns the GPU use of the processes `pids`, e.g. 'GPU0 87% 3.1/16.0 GiB', or None.

    None means NVML sees none of them on any GPU (a CPU job, or no GPU here).
    """
    parts = []
    for gpu in report.gpus:
        used = sum(mem for pid, mem in gpu.processes if pid in pids)
        if any(pid in pids for pid, _ in gpu.processes):
            parts.append(
                f"GPU{gpu.index} {gpu.utilization_percent}% "
                f"{used / 2**30:.1f}/{gpu.memory_total / 2**30:.1f} GiB"
            )
    return ", ".join(parts) or None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
