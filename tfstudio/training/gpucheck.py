"""`gpu-check`: the verification every TensorFlow image user knows, run inside the image.

A helper container runs `PROBE` with the image's own Python: TensorFlow
version and build (CUDA, cuDNN), `tf.config.list_physical_devices('GPU')`, a
large matmul pinned to `/GPU:0` (or the CPU when no GPU is visible) timed
after a warm-up, and the number of replicas `MirroredStrategy` would use. The
probe prints one JSON line; `verdict()` turns it into one of four verdicts,
each with a hint. Running (`run_gpu_check`) and judging (`verdict`) are
separate, so the judging is tested on captured probe output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any

from tfstudio.operations import SILENT, CancelToken, Reporter, Stage
from tfstudio.training.client import EngineClient
from tfstudio.training.images import ResolvedImage, resolve_image
from tfstudio.training.limits import GpuRequest
from tfstudio.training.oneshot import ProgramMissingError, run_oneshot
from tfstudio.training.tagpolicy import ImageRef

MARKER = "TFSTUDIO-GPU-CHECK "
GPU_MATMUL_N = 8192
CPU_MATMUL_N = 2048
"""Matrix sizes: big enough to time the device, small enough for a 2-core CPU in a second."""
PYTHONS = ("python3", "python")
_MISMATCH_WORDS = (
    "driver version is insufficient",
    "cuda_error_system_driver_mismatch",
    "cuda driver version",
    "cuda_error_unsupported_ptx_version",
    "forward compatibility",
    "cudagetdevice() failed",
    "cuinit",
)

PROBE = r"""
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
n_gpu, n_cpu = int(sys.argv[1]), int(sys.argv[2])
out = {"python": sys.version.split()[0]}
def done():
    print("TFSTUDIO-GPU-CHECK " + json.dumps(out), flush=True)
    sys.exit(0)
try:
    import tensorflow as tf
except Exception as exc:
    out["tensorflow"] = None
    out["import_error"] = (type(exc).__name__ + ": " + str(exc))[:400]
    done()
out["tensorflow"] = tf.__version__
out["built_with_cuda"] = bool(tf.test.is_built_with_cuda())
try:
    info = tf.sysconfig.get_build_info()
    out["cuda_version"] = info.get("cuda_version")
    out["cudnn_version"] = info.get("cudnn_version")
except Exception:
    pass
gpus = tf.config.list_physical_devices("GPU")
out["gpus"] = [d.name for d in gpus]
device, n = ("/GPU:0", n_gpu) if gpus else ("/CPU:0", n_cpu)
out["device"], out["n"] = device, n
try:
    with tf.device(device):
        a = tf.random.normal((n, n))
        b = tf.random.normal((n, n))
        float(tf.reduce_sum(tf.matmul(a, b)))
        best = None
        for _ in range(3):
            t0 = time.perf_counter()
            float(tf.reduce_sum(tf.matmul(a, b)))
            t = time.perf_counter() - t0
            best = t if best is None else min(best, t)
    out["matmul_seconds"] = best
except Exception as exc:
    out["matmul_error"] = (type(exc).__name__ + ": " + str(exc))[:400]
try:
    out["replicas"] = tf.distribute.MirroredStrategy().num_replicas_in_sync
except Exception as exc:
    out["replicas_error"] = (type(exc).__name__ + ": " + str(exc))[:200]
done()
"""
"""Runs with the image's Python; prints MARKER + one JSON object. Works on Python 3.6+."""


class Verdict(str, Enum):
    """What the check found."""

    GPU_USABLE = "gpu_usable"
    NO_GPU_VISIBLE = "no_gpu_visible"
    DRIVER_MISMATCH = "driver_runtime_mismatch"
    NO_TENSORFLOW = "no_tensorflow"


@dataclass(frozen=True)
class GpuCheckResult:
    """The outcome of one GPU check."""

    engine: str
    image: str
    image_digest: str
    gpus_requested: str
    verdict: Verdict
    message: str
    hint: str
    tensorflow: str | None
    python: str | None
    gpus_visible: tuple[str, ...]
    device: str | None
    matmul_n: int | None
    matmul_seconds: float | None
    replicas: int | None
    built_with_cuda: bool | None
    cuda_version: str | None
    detail: str | None

    @property
    def gflops(self) -> float | None:
        """Matmul throughput in GFLOP/s (2·n³ operations), when timed."""
        if not self.matmul_seconds or not self.matmul_n:
            return None
        return 2 * self.matmul_n**3 / self.matmul_seconds / 1e9

    def to_json(self) -> dict[str, Any]:
        """Returns every field plus gflops."""
        out = dict(self.__dict__)
        out["verdict"] = self.verdict.value
        out["gpus_visible"] = list(self.gpus_visible)
        out["gflops"] = None if self.gflops is None else round(self.gflops, 1)
        return out


def run_gpu_check(
    client: EngineClient,
    ref: ImageRef,
    gpus: GpuRequest,
    *,
    pull: bool = True,
    timeout_s: float = 300.0,
    gpu_n: int = GPU_MATMUL_N,
    cpu_n: int = CPU_MATMUL_N,
    report: Reporter = SILENT,
    cancel: CancelToken | None = None,
) -> GpuCheckResult:
    """Runs the probe in `ref` with `gpus` and returns the verdict.

    Raises GpuRequestError (the engine has no NVIDIA runtime), ImageError,
    EngineError, CancelledError.
    """
    image = resolve_image(client, ref, pull=pull, report=report, cancel=cancel)
    report.stage(Stage.RUNNING, f"checking GPUs in {ref.text}")
    probe: dict[str, Any] | None = None
    detail = None
    for python in PYTHONS:
        try:
            result = run_oneshot(
                client,
                image.id,
                [python, "-c", PROBE, str(gpu_n), str(cpu_n)],
                kind="gpu-check",
                gpus=gpus,
                timeout_s=timeout_s,
                cancel=cancel,
            )
        except ProgramMissingError:
            detail = f"no {' or '.join(PYTHONS)} in the image"
            continue
        probe = parse_probe(result.output)
        if probe is None:
            tail = [line for line in result.output.splitlines() if line.strip()][-3:]
            why = "timed out" if result.timed_out else f"exited {result.exit_code}"
            detail = f"the check {why}: {' | '.join(tail)[:400] or 'no output'}"
            probe = {"check_error": detail, "tensorflow": "?"}
        break
    return verdict(client.engine.name, image, gpus, probe or {"tensorflow": None}, detail)


def parse_probe(output: str) -> dict[str, Any] | None:
    """Returns the probe's JSON object from a container's output, or None."""
    for line in reversed(output.splitlines()):
        if line.startswith(MARKER):
            try:
                value = json.loads(line[len(MARKER) :])
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


def verdict(
    engine: str,
    image: ResolvedImage,
    gpus: GpuRequest,
    probe: dict[str, Any],
    detail: str | None = None,
) -> GpuCheckResult:
    """Returns the verdict for one probe answer (a dict as printed by PROBE)."""
    asked = gpus.describe()
    visible = tuple(probe.get("gpus") or ())
    seconds = probe.get("matmul_seconds")
    n = probe.get("n")
    timing = (
        f"{n}x{n} matmul on {probe.get('device')} in {seconds * 1000:.1f} ms" if seconds else ""
    )
    error = probe.get("matmul_error") or probe.get("check_error") or ""
    if probe.get("tensorflow") is None:
        kind = Verdict.NO_TENSORFLOW
        why = probe.get("import_error") or detail or "tensorflow cannot be imported"
        message = f"image {image.ref} has no TensorFlow ({why})"
        hint = "pick a TensorFlow image, e.g. tensorflow/tensorflow:2.21.0-gpu, or a local one"
    elif visible and seconds and probe.get("device") == "/GPU:0":
        kind = Verdict.GPU_USABLE
        message = (
            f"GPU usable: {len(visible)} GPU(s) visible to TensorFlow {probe['tensorflow']}, "
            f"{timing}, MirroredStrategy would use {probe.get('replicas', '?')} replica(s)"
        )
        hint = f"train with --gpus {asked}"
    elif visible or _mentions_mismatch(error):
        kind = Verdict.DRIVER_MISMATCH
        message = (
            f"GPU visible but unusable: TensorFlow {probe['tensorflow']} "
            f"(CUDA {probe.get('cuda_version') or '?'}) failed on it: {error or 'no timing'}"
        )
        hint = (
            "the host's NVIDIA driver and the image's CUDA do not match: upgrade the driver "
            "or pick an image built for it (compare nvidia-smi with the image's CUDA version)"
        )
    else:
        kind = Verdict.NO_GPU_VISIBLE
        cpu = f"; {timing}" if timing else (f"; CPU matmul failed: {error}" if error else "")
        message = f"no GPU visible to TensorFlow {probe['tensorflow']} (--gpus {asked}){cpu}"
        if not gpus.wanted:
            hint = "to use GPUs, run with --gpus all on an engine with the NVIDIA runtime"
        elif probe.get("built_with_cuda") is False:
            hint = (
                "this TensorFlow is a CPU-only build: use a GPU image "
                "(e.g. tensorflow/tensorflow:2.21.0-gpu)"
            )
        else:
            hint = (
                "the container got GPUs but CUDA cannot see them: "
                "check the NVIDIA Container Toolkit on the engine host"
            )
    return GpuCheckResult(
        engine=engine,
        image=image.ref,
        image_digest=image.digest,
        gpus_requested=asked,
        verdict=kind,
        message=message,
        hint=hint,
        tensorflow=probe.get("tensorflow"),
        python=probe.get("python"),
        gpus_visible=visible,
        device=probe.get("device"),
        matmul_n=n,
        matmul_seconds=seconds,
        replicas=probe.get("replicas"),
        built_with_cuda=probe.get("built_with_cuda"),
        cuda_version=probe.get("cuda_version"),
        detail=error or detail,
    )


def _mentions_mismatch(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _MISMATCH_WORDS)
