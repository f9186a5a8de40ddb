"""The server's Prometheus metrics: request counts, errors, predict latency, active model.

Thread-safe counters rendered in the Prometheus text exposition format (0.0.4).
"""

from __future__ import annotations

import threading
from typing import Dict, List, Optional, Tuple

LATENCY_BUCKETS_S: Tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip
"""Upper bounds of the predict latency histogram (seconds); edge models span 0.5 ms-5 s."""

PREFIX = "tfstudio_agent_"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    """Counters of one server process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Dict[Tuple[str, int], int] = {}
        self.errors = 0
        self.buckets = [0] * len(LATENCY_BUCKETS_S)
        self.latency_sum = 0.0
        self.latency_count = 0
        self.reloads: Dict[str, int] = {"ok": 0, "failed": 0}
        self.inbox: Dict[str, int] = {"installed": 0, "rejected": 0}

    def observe_request(self, endpoint: str, code: int) -> None:
        """Counts one answered request (and an error when code >= 400)."""
        with self._lock:
            key = (endpoint, code)
            self.requests[key] = self.requests.get(key, 0) + 1
            if code >= 400:
                self.errors += 1

    def observe_predict(self, seconds: float) -> None:
        """Adds one successful predict's latency to the histogram."""
        with self._lock:
            for i, bound in enumerate(LATENCY_BUCKETS_S):
                if seconds <= bound:
                    self.buckets[i] += 1
            self.latency_sum += seconds
            self.latency_count += 1

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
                "predict_latency_seconds", "histogram", "Predict latency: parse, invoke, encode."
            )
            for bound, n in zip(LATENCY_BUCKETS_S, self.buckets):
                out.append(f'{name}_bucket{{le="{bound:g}"}} {n}')
            out.append(f'{name}_bucket{{le="+Inf"}} {self.latency_count}')
            out.append(f"{name}_sum {self.latency_sum:.9f}")
            out.append(f"{name}_count {self.latency_count}")
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
            return "\n".join(out) + "\n"
