"""The server's Prometheus metrics: requests, errors, request and invoke latency, model, uptime.

Thread-safe counters and histograms rendered in the Prometheus text exposition
format (0.0.4). The studio scrapes them through its SSH connection and turns
the histograms into rates and percentiles (`tfstudio metrics`); any Prometheus
that can reach the device's loopback can scrape them too.
"""

from __future__ import annotations

import threading
import time
from typing import Dict, List, Optional, Tuple

LATENCY_BUCKETS_S: Tuple[float, ...] = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
"""Upper bounds of the latency histograms (seconds). Edge models span 10 µs (a small
MLP under XNNPACK) to seconds, so the low end is as fine as the high end is long."""

PREFIX = "tfstudio_agent_"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Histogram:
    """Cumulative buckets, sum and count of observations (the caller holds the lock)."""

    def __init__(self) -> None:
        self.buckets = [0] * len(LATENCY_BUCKETS_S)
        self.total = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        """Adds one observation."""
        for i, bound in enumerate(LATENCY_BUCKETS_S):
            if seconds <= bound:
                self.buckets[i] += 1
        self.total += seconds
        self.count += 1

    def render(self, name: str, out: List[str]) -> None:
        """Appends the `_bucket`, `_sum` and `_count` lines of `name` to `out`."""
        for bound, n in zip(LATENCY_BUCKETS_S, self.buckets):
            out.append(f'{name}_bucket{{le="{bound:g}"}} {n}')
        out.append(f'{name}_bucket{{le="+Inf"}} {self.count}')
        out.append(f"{name}_sum {self.total:.9f}")
        out.append(f"{name}_count {self.count}")


class Metrics:
    """Counters of one server process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.start_time = time.time()
        self.requests: Dict[Tuple[str, int], int] = {}
        self.errors = 0
        self.predict = Histogram()
        self.invoke = Histogram()
        self.instances = 0
        self.reloads: Dict[str, int] = {"ok": 0, "failed": 0}
        self.inbox: Dict[str, int] = {"installed": 0, "rejected": 0}

    @property
    def latency_count(self) -> int:
        """Successful predicts so far."""
        return self.predict.count

    def observe_request(self, endpoint: str, code: int) -> None:
        """Counts one answered request (and an error when code >= 400)."""
        with self._lock:
            key = (endpoint, code)
            self.requests[key] = self.requests.get(key, 0) + 1
            if code >= 400:
                self.errors += 1

    def observe_predict(self, seconds: float, instances: int = 1) -> None:
        """Adds one successful predict's latency (parse, invoke, encode) to its histogram."""
        with self._lock:
            self.predict.observe(seconds)
            self.instances += instances

    def observe_invoke(self, seconds: float) -> None:
        """Adds one interpreter invoke (a request runs one per batch) to its histogram."""
        with self._lock:
            self.invoke.observe(seconds)

    def count(self, family: str, key: str) -> None:
        """Counts a reload ('ok'/'failed') or an inbox pickup ('installed'/'rejected')."""
        with self._lock:
            table = self.reloads if family == "reloads" else self.inbox
            table[key] = table.get(key, 0) + 1

    def render(self, active_sha: Optional[str], active_name: Optional[str]) -> str:
        """Returns the metrics page in Prometheus text format."""
        with self._lock:
            out: List[str] = []

            def family(name: str, kind: str, help_text: str) -> str:
                full = PREFIX + name
                out.append(f"# HELP {full} {help_text}")
                out.append(f"# TYPE {full} {kind}")
                return full

            name = family(
                "requests_total", "counter", "HTTP requests answered, by endpoint and code."
            )
            for (endpoint, code), n in sorted(self.requests.items()):
                out.append(f'{name}{{endpoint="{_escape(endpoint)}",code="{code}"}} {n}')
            name = family("request_errors_total", "counter", "Requests answered with 4xx or 5xx.")
            out.append(f"{name} {self.errors}")
            name = family(
                "predict_latency_seconds",
                "histogram",
                "Successful predict requests, server side: parse, invoke, encode.",
            )
            self.predict.render(name, out)
            name = family(
                "invoke_latency_seconds", "histogram", "Interpreter invokes of predict requests."
            )
            self.invoke.render(name, out)
            name = family("predict_instances_total", "counter", "Instances (examples) predicted.")
            out.append(f"{name} {self.instances}")
            name = family(
                "active_model", "gauge", "The model being served (1), by sha256 and name."
            )
            if active_sha:
                label = _escape(active_name or "")
                out.append(f'{name}{{sha256="{active_sha}",name="{label}"}} 1')
            name = family("model_reloads_total", "counter", "Hot reloads of the active model.")
            for key, n in sorted(self.reloads.items()):
                out.append(f'{name}{{result="{key}"}} {n}')
            name = family("inbox_models_total", "counter", "Models picked up from inbox/.")
            for key, n in sorted(self.inbox.items()):
                out.append(f'{name}{{result="{key}"}} {n}')
            name = family("uptime_seconds", "gauge", "Seconds since this server started.")
            out.append(f"{name} {time.monotonic() - self.started:.3f}")
            name = family(
                "start_time_seconds", "gauge", "When this server started (Unix time, device clock)."
            )
            out.append(f"{name} {self.start_time:.3f}")
            return "\n".join(out) + "\n"
