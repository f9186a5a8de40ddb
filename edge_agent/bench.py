"""On-device latency, measured the way LiteRT's `benchmark_model` does.

Phases: init (load + allocate), first invoke, warmup (at least N runs and at
least `warmup_min_seconds`), then steady state (at least `runs` and at least
`min_seconds`, capped at 150 s). Inputs are set once before timing, as in
benchmark_model; only `invoke()` is timed, with `perf_counter_ns`, into a
preallocated list, and the garbage collector is off while timing, so the loop
does no allocation, no logging and no collection.
"""

from __future__ import annotations

import gc
import hashlib
import math
import resource
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from edge_agent import fsutil
from edge_agent.errors import AgentError
from edge_agent.store import Store, utc_now

MAX_SECONDS = 150.0
"""Steady state stops here even if `runs` is not reached (benchmark_model's max_secs)."""

DEFAULT_RUNS = 100
DEFAULT_WARMUP = 10
DEFAULT_MIN_SECONDS = 1.0
DEFAULT_WARMUP_MIN_SECONDS = 0.5
REPORT_FILE = "bench.jsonl"


def percentile(sorted_ms: List[float], pct: float) -> float:
    """Returns the nearest-rank percentile of an ascending list (pct in (0, 100])."""
    if not sorted_ms:
        raise ValueError("no samples")
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_ms)))
    return sorted_ms[min(rank, len(sorted_ms)) - 1]


def resolve_model(store: Store, ref: Optional[str]) -> Dict[str, Any]:
    """Returns {"sha256","name","path"} for a stored sha/prefix, a file path, or the active model.

    Raises AgentError: no_active, not_found, usage.
    """
    if ref is None:
        sha = store.active_sha()
        if sha is None:
            raise AgentError(
                "no model is active; give --model SHA|PATH or install one", "no_active"
            )
        return {
            "sha256": sha,
            "name": store.manifest(sha).get("name"),
            "path": str(store.model_path(sha)),
        }
    path = Path(ref)
    if path.is_file():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return {"sha256": digest, "name": path.name.split(".")[0], "path": str(path)}
    try:
        sha = store.resolve(ref)
    except AgentError as exc:
        if exc.code == "usage":
            raise AgentError(
                f"--model {ref!r}: no such file or stored model", "not_found"
            ) from None
        raise
    return {
        "sha256": sha,
        "name": store.manifest(sha).get("name"),
        "path": str(store.model_path(sha)),
    }


def _input_sets(
    details: List[Dict[str, Any]], kind: str, data_sha: Optional[str]
) -> List[List[Any]]:
    """Returns the input sets a bench cycles through, each already in the inputs' dtypes.

    One generated set for 'random'/'zeros'; for a file, one set per model batch
    of its samples (a file of one sample gives one set, as benchmark_model's
    input files do). Raises AgentError(bad_input, sha256_mismatch).
    """
    import numpy as np

    from edge_agent import inputs, runtime

    if kind in ("random", "zeros"):
        rng = np.random.default_rng(0)
        return [[runtime.generated_input(d, kind, rng) for d in details]]
    what = f"--input {kind}"
    xs = inputs.model_inputs(details, inputs.load_arrays(kind, what, data_sha), what)
    batch = max(1, int(details[0]["shape"][0]))
    sets = xs[0].shape[0] // batch
    if sets == 0:
        raise AgentError(
            f"{what}: {xs[0].shape[0]} samples do not fill one batch of {batch}", "bad_input"
        )
    return [[x[i * batch : (i + 1) * batch] for x in xs] for i in range(sets)]


def _stats(samples_ns: List[int]) -> Dict[str, float]:
    ms = sorted(s / 1e6 for s in samples_ns)
    n = len(ms)
    mean = sum(ms) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in ms) / n)
    out = {
        "mean_ms": mean,
        "std_ms": std,
        "min_ms": ms[0],
        "max_ms": ms[-1],
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "p999_ms": percentile(ms, 99.9),
    }
    return {k: round(v, 6) for k, v in out.items()}


def timed_loop(
    invoke: Any,
    runs: int,
    min_s: float,
    max_s: float,
    capacity: int,
    before: Optional[Callable[[int], None]] = None,
) -> List[int]:
    """Calls `invoke` until >= runs and >= min_s (or max_s); returns per-call ns.

    `before(i)`, when given, runs ahead of call i outside its timed span (the
    next real input is set there).
    """
    clock = time.perf_counter_ns
    samples = [0] * max(capacity, runs, 1)
    cap = len(samples)
    min_ns = int(min_s * 1e9)
    max_ns = int(max_s * 1e9)
    i = 0
    start = clock()
    while True:
        if before is not None:
            before(i)
        t0 = clock()
        invoke()
        t1 = clock()
        samples[i] = t1 - t0
        i += 1
        elapsed = t1 - start
        if (i >= runs and elapsed >= min_ns) or elapsed >= max_ns:
            break
        if i == cap:  # rare: the warmup estimate was short; grow outside any timed span
            samples.extend([0] * cap)
            cap *= 2
    del samples[i:]
    return samples


def run_bench(
    store: Store,
    model_ref: Optional[str] = None,
    runs: int = DEFAULT_RUNS,
    warmup: int = DEFAULT_WARMUP,
    min_seconds: float = DEFAULT_MIN_SECONDS,
    warmup_min_seconds: float = DEFAULT_WARMUP_MIN_SECONDS,
    threads: Optional[int] = None,
    input_kind: str = "random",
    profile_ops: bool = False,
    input_sha: Optional[str] = None,
    signature: Optional[str] = None,
) -> Dict[str, Any]:
    """Benchmarks a model and appends the report to reports/bench.jsonl; returns the report.

    The model runs by `signature` (default: serving_default, else its first), the
    one a request without a signature name gets, whichever subgraph holds it.

    `input_kind` is 'random', 'zeros' or a .npy/.npz file of real inputs (with
    `input_sha`, it must hash to that); a file of several samples is cycled
    through, each set outside the timed span. The report's `method` says how
    it was measured. Raises AgentError: no_runtime, no_active, not_found,
    bad_input, sha256_mismatch, invoke_failed, usage.
    """
    from edge_agent import runtime
    from edge_agent.device_info import device_info

    if runs < 1 or warmup < 0 or min_seconds < 0 or warmup_min_seconds < 0:
        raise AgentError("--runs must be >= 1 and --warmup/--min-seconds >= 0", "usage")
    if threads is not None and threads < 1:
        raise AgentError("--threads must be >= 1", "usage")
    model = resolve_model(store, model_ref)
    try:
        info = runtime.detect_runtime()
    except runtime.RuntimeMissingError as exc:
        raise AgentError(str(exc), "no_runtime") from None

    _reset_peak_rss()
    t0 = time.perf_counter_ns()
    try:
        interpreter = runtime.make_interpreter(
            model_path=model["path"], threads=threads, quiet=True
        )
    except Exception as exc:  # noqa: BLE001 - the runtime's own text is the message
        raise AgentError(
            f"{info.name} {info.version} could not load the model: {exc}", "invoke_failed"
        ) from None
    init_ms = (time.perf_counter_ns() - t0) / 1e6
    key, chosen = _signature(interpreter, signature)
    details = list(chosen.inputs.values())
    sets = _input_sets(details, input_kind, input_sha)
    feed, invoke = _feeder(interpreter, chosen, sets)
    feed(0)
    before = feed if len(sets) > 1 else None

    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter_ns()
        try:
            invoke()
        except Exception as exc:  # noqa: BLE001
            raise AgentError(f"invoke failed: {exc}", "invoke_failed") from None
        first_ms = (time.perf_counter_ns() - t0) / 1e6
        warm = (
            timed_loop(invoke, warmup, warmup_min_seconds, MAX_SECONDS, warmup, before)
            if warmup or warmup_min_seconds
            else []
        )
        warm_mean_s = (sum(warm) / len(warm) / 1e9) if warm else first_ms / 1e3
        estimate = int(min_seconds / max(warm_mean_s, 1e-7) * 1.5) + 16
        samples = timed_loop(
            invoke, runs, min_seconds, MAX_SECONDS, max(runs, min(estimate, 5_000_000)), before
        )
    finally:
        if gc_was_enabled:
            gc.enable()

    stats = _stats(samples)
    from_file = input_kind not in ("random", "zeros")
    report: Dict[str, Any] = {
        "init_ms": round(init_ms, 4),
        "first_invoke_ms": round(first_ms, 4),
        "warmup_mean_ms": round(sum(warm) / len(warm) / 1e6, 4) if warm else None,
        **stats,
        "throughput_ips": round(1000.0 / stats["mean_ms"], 2) if stats["mean_ms"] else None,
        "runs": len(samples),
        "warmup_runs": len(warm),
        "threads": threads,
        "rss_peak_mb": _peak_rss_mb(),
        "input_kind": "file" if from_file else input_kind,
        "input_file": input_kind if from_file else None,
        "model": model,
        "runtime": {
            "name": info.name,
            "version": info.version,
            "compat_version": info.compat_version,
        },
        "device": device_info(store.home, active_ref(store)),
        "timestamp": utc_now(),
        "op_profile": _op_profile(info) if profile_ops else None,
        "signature": key,
        "method": {
            "timer": "perf_counter_ns around invoke() only; gc off"
            if chosen.runner is None
            else "perf_counter_ns around the signature runner's call (sets the inputs, "
            "invokes, copies the outputs); gc off",
            "phases": "init (load + allocate), first invoke, warmup, steady state",
            "runs": runs,
            "warmup": warmup,
            "min_seconds": min_seconds,
            "warmup_min_seconds": warmup_min_seconds,
            "max_seconds": MAX_SECONDS,
            "threads": threads,
            "inputs": "file" if from_file else input_kind,
            "input_sets": len(sets),
            "input_sha256": input_sha if from_file else None,
            "inputs_rotated": len(sets) > 1,
        },
    }
    import json

    store.reports.mkdir(parents=True, exist_ok=True)
    fsutil.append_line(store.reports / REPORT_FILE, json.dumps(report, sort_keys=True))
    return report


def _signature(interpreter: Any, name: Optional[str]) -> Tuple[str, Any]:
    """Returns (key, Signature) of signature `name` (default: the default one).
    Raises AgentError(usage) for a name the model lacks."""
    from edge_agent.signatures import default_key, read_signatures

    found = read_signatures(interpreter)
    key = name or default_key(found)
    if key not in found:
        raise AgentError(
            f"--signature {key!r}: the model has no such signature ({', '.join(found)})", "usage"
        )
    return key, found[key]


def _feeder(
    interpreter: Any, chosen: Any, sets: List[List[Any]]
) -> Tuple[Callable[[int], None], Callable[[], Any]]:
    """Returns (feed(i): sets input set i, invoke()) for the chosen signature.

    The first subgraph's signature is fed with set_tensor and timed around invoke()
    alone; another subgraph's only runs through its signature runner."""
    if chosen.runner is None:
        indexes = [d["index"] for d in chosen.inputs.values()]
        set_tensor = interpreter.set_tensor

        def feed(i: int) -> None:
            for index, value in zip(indexes, sets[i % len(sets)]):
                set_tensor(index, value)

        return feed, interpreter.invoke
    names = list(chosen.inputs)
    current: Dict[str, Any] = {}
    runner = chosen.runner

    def feed_runner(i: int) -> None:
        current.update(zip(names, sets[i % len(sets)]))

    return feed_runner, lambda: runner(**current)


def run_sweep(store: Store, thread_counts: Sequence[int], **options: Any) -> Dict[str, Any]:
    """Benches once per thread count (same model, inputs and settings) in this process.

    Returns {"sweep": [report...], "fastest_threads", "by": "p50_ms"}; each
    report carries `fastest` (lowest p50, then p99). Raises like `run_bench`.
    """
    counts = list(dict.fromkeys(int(t) for t in thread_counts))
    if not counts or any(t < 1 for t in counts):
        raise AgentError("--threads takes counts >= 1, e.g. 1,2,4", "usage")
    reports = []
    for threads in counts:
        reports.append(run_bench(store, threads=threads, **options))
    best = min(range(len(reports)), key=lambda i: (reports[i]["p50_ms"], reports[i]["p99_ms"]))
    for i, report in enumerate(reports):
        report["fastest"] = i == best
    return {"sweep": reports, "fastest_threads": counts[best], "by": "p50_ms"}


def parse_threads(value: Any) -> List[int]:
    """Returns the thread counts in `value`: None, a count, a list of counts, or "1,2,4".

    Raises AgentError(usage) for anything else or a count below 1.
    """
    if value is None:
        return []
    if isinstance(value, bool):
        parts: List[Any] = [value]
    elif isinstance(value, int):
        parts = [value]
    elif isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        parts = [value]
    try:
        if any(isinstance(p, (bool, float)) for p in parts):
            raise ValueError
        counts = [int(p) for p in parts]
    except (TypeError, ValueError):
        raise AgentError(f"invalid thread count(s) {value!r}; e.g. 4 or 1,2,4", "usage") from None
    if not counts or any(c < 1 for c in counts):
        raise AgentError(f"thread counts must be >= 1: {value!r}", "usage")
    return counts


def bench_or_sweep(store: Store, threads: Any = None, **options: Any) -> Dict[str, Any]:
    """Runs `bench` as the command line and the session ask for it: one run, or a sweep
    when `threads` names several counts ("1,2,4" or a list). Raises like `run_bench`."""
    counts = parse_threads(threads)
    if len(counts) > 1:
        return run_sweep(store, counts, **options)
    return run_bench(store, threads=counts[0] if counts else None, **options)


def _reset_peak_rss() -> None:
    """Resets the kernel's peak-RSS mark (Linux), so each bench of a sweep reports its own."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass  # not Linux, or not allowed: ru_maxrss (the process's peak) is used


def _peak_rss_mb() -> float:
    """Returns the peak resident memory (MiB) since the last reset (VmHWM), else the process's."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(usage / (1024 * 1024) if sys.platform == "darwin" else usage / 1024, 1)


def _op_profile(info: Any) -> Dict[str, Any]:
    # Neither ai_edge_litert's nor tflite_runtime's Python Interpreter exposes the
    # C++ profiler (benchmark_model --enable_op_profiling); say so, never omit it.
    return {
        "available": False,
        "reason": f"{info.name} {info.version}'s Python interpreter exposes no per-op "
        "profiler; use LiteRT's benchmark_model binary with --enable_op_profiling=true "
        "for a per-op table",
    }


def active_ref(store: Store) -> Optional[Dict[str, Any]]:
    """Returns {"sha256", "name"} of the active model, or None."""
    sha = store.active_sha()
    if sha is None:
        return None
    try:
        return {"sha256": sha, "name": store.manifest(sha).get("name")}
    except AgentError:
        return {"sha256": sha, "name": None}


def last_report(store: Store) -> Optional[Dict[str, Any]]:
    """Returns the last bench report in reports/bench.jsonl, or None."""
    import json

    path = store.reports / REPORT_FILE
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            chunk = 1 << 16
            while True:
                start = max(0, size - chunk)
                handle.seek(start)
                lines = handle.read(size - start).splitlines()
                if len(lines) >= 2 or start == 0:
                    break
                chunk *= 4
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None
