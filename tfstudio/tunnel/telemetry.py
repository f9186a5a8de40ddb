"""Live telemetry from the agent's server: scrape /metrics through the tunnel, compute rates.

`MetricsSession` keeps one device's connection and tunnel open between
scrapes (a `--watch` loop, the UI's devices pane) and turns each scrape into
`DeviceMetrics`: request, error and predict rates and the p50/p90/p99 of
request and invoke latency over the window since the previous scrape (since
the server started, for the first one). Windows are measured with the
server's own uptime gauge, so network delays do not bend the rates. The
studio's own scrapes are left out of the traffic figures.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from tfstudio.errors import TfStudioError
from tfstudio.fleet import fanout
from tfstudio.fleet.registry import Device
from tfstudio.operations import CancelToken
from tfstudio.transport.base import Transport
from tfstudio.tunnel import prometheus
from tfstudio.tunnel.channel import LoopbackHTTP, refusal

PREFIX = "tfstudio_agent_"
SCRAPE_ENDPOINT = "metrics"
"""Requests to /metrics: the scrapes themselves, not the device's traffic."""


@dataclass(frozen=True)
class Latency:
    """Percentiles (ms) of one latency histogram over a window."""

    count: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    mean_ms: float | None

    @classmethod
    def of(cls, hist: prometheus.Histogram) -> Latency:
        """Returns the percentiles of `hist` (None when it holds nothing)."""

        def ms(q: float) -> float | None:
            found = prometheus.quantile(hist, q)
            return None if found is None else round(found * 1000, 4)

        mean = round(hist.total / hist.count * 1000, 4) if hist.count > 0 else None
        return cls(int(hist.count), ms(0.5), ms(0.9), ms(0.99), mean)


@dataclass(frozen=True)
class DeviceMetrics:
    """One scrape of one device: rates over `window_s` (since start when `since_start`)."""

    device: str
    ok: bool
    error: str | None = None
    hint: str | None = None
    scraped_at: str | None = None
    scrape_ms: float | None = None
    since_start: bool = True
    window_s: float | None = None
    requests: int = 0
    request_rate: float | None = None
    errors: int = 0
    error_rate: float | None = None
    predicts: int = 0
    predict_rate: float | None = None
    instances: int = 0
    request_latency: Latency | None = None
    invoke_latency: Latency | None = None
    active: dict[str, Any] | None = None
    uptime_s: float | None = None
    service: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """Returns the fields as JSON-able data (latencies as objects)."""
        return asdict(self)


def summarize(
    device: str,
    samples: prometheus.Samples,
    previous: prometheus.Samples | None = None,
    *,
    scrape_ms: float | None = None,
    service: dict[str, Any] | None = None,
) -> DeviceMetrics:
    """Returns the metrics of a scrape, as rates since `previous` (or since start)."""
    uptime = prometheus.value(samples, PREFIX + "uptime_seconds")
    before_up = prometheus.value(previous, PREFIX + "uptime_seconds") if previous else None
    since_start = before_up is None or uptime is None or uptime < before_up
    base = None if since_start else previous
    window = uptime if since_start else (uptime or 0.0) - (before_up or 0.0)

    def counted(sample_set: prometheus.Samples | None, **match: str) -> float:
        if sample_set is None:
            return 0.0
        out = 0.0
        for (name, labels), v in sample_set.items():
            if name != PREFIX + "requests_total":
                continue
            found = dict(labels)
            if found.get("endpoint") == SCRAPE_ENDPOINT:
                continue
            if match.get("errors") and int(found.get("code", "0")) < 400:
                continue
            if match.get("endpoint") and found.get("endpoint") != match["endpoint"]:
                continue
            out += v
        return out

    def rate(now: float, then: float) -> float | None:
        return round((now - then) / window, 3) if window else None

    requests, errors = counted(samples), counted(samples, errors="1")
    predict_hist = prometheus.histogram(samples, PREFIX + "predict_latency_seconds")
    invoke_hist = prometheus.histogram(samples, PREFIX + "invoke_latency_seconds")
    old_predict = prometheus.histogram(base, PREFIX + "predict_latency_seconds") if base else None
    old_invoke = prometheus.histogram(base, PREFIX + "invoke_latency_seconds") if base else None
    active = [
        dict(labels) for (name, labels), v in samples.items() if name == PREFIX + "active_model"
    ]
    return DeviceMetrics(
        device=device,
        ok=True,
        scraped_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        scrape_ms=round(scrape_ms, 3) if scrape_ms is not None else None,
        since_start=since_start,
        window_s=round(window, 3) if window is not None else None,
        requests=int(requests),
        request_rate=rate(requests, counted(base)),
        errors=int(errors),
        error_rate=rate(errors, counted(base, errors="1")),
        predicts=int(predict_hist.count),
        predict_rate=rate(predict_hist.count, old_predict.count if old_predict else 0.0),
        instances=int(prometheus.value(samples, PREFIX + "predict_instances_total") or 0),
        request_latency=Latency.of(prometheus.delta(predict_hist, old_predict)),
        invoke_latency=Latency.of(prometheus.delta(invoke_hist, old_invoke)),
        active=active[0] if active else None,
        uptime_s=round(uptime, 1) if uptime is not None else None,
        service=service,
    )


Connector = Callable[[Device], Transport]


class MetricsSession:
    """One device's live metrics: a connection and a tunnel kept between scrapes.

    `poll()` never raises for a device's fault: it returns a DeviceMetrics with
    `ok=False` and closes the connection, and the next poll connects afresh
    (the service may have restarted on another port). Use one session per
    worker thread; `close()` from any thread ends it.
    """

    def __init__(self, device: Device, connect: Connector, timeout: float = 30.0) -> None:
        self.device = device
        self._connect = connect
        self._timeout = timeout
        self._transport: Transport | None = None
        self._http: LoopbackHTTP | None = None
        self._service: dict[str, Any] | None = None
        self._previous: prometheus.Samples | None = None
        self._lock = threading.Lock()

    def _open(self, cancel: CancelToken | None) -> LoopbackHTTP:
        from tfstudio.fleet.service import endpoint

        if self._http is not None:
            return self._http
        self._transport = self._connect(self.device)
        found = endpoint(self.device, self._transport, cancel)
        self._service = found.service.to_json()
        self._http = LoopbackHTTP(self._transport, found.port, found.token, self._timeout)
        return self._http

    def poll(self, cancel: CancelToken | None = None) -> DeviceMetrics:
        """Scrapes once; returns the metrics since the last poll (or the error)."""
        with self._lock:
            try:
                http = self._open(cancel)
                answer = http.request("GET", "/metrics")
                if answer.status != 200:
                    raise refusal(answer, self.device.name)
                samples = prometheus.parse(answer.text)
            except TfStudioError as exc:
                self._close()
                message = exc.message
                if not message.startswith(self.device.name):
                    message = f"{self.device.name}: {message}"
                return DeviceMetrics(self.device.name, False, message, exc.hint)
            except Exception as exc:  # noqa: BLE001 - one device's bug must not stop a watch
                self._close()
                return DeviceMetrics(
                    self.device.name, False, f"{self.device.name}: {type(exc).__name__}: {exc}"
                )
            result = summarize(
                self.device.name,
                samples,
                self._previous,
                scrape_ms=answer.elapsed_ms,
                service=self._service,
            )
            self._previous = samples
            return result

    def _close(self) -> None:
        if self._http is not None:
            self._http.close()
        if self._transport is not None:
            self._transport.close()
        self._http = self._transport = None

    def close(self) -> None:
        """Closes the tunnel and the connection."""
        self._close()


def scrape_many(
    sessions: Sequence[MetricsSession],
    *,
    workers: int = 8,
    cancel: CancelToken | None = None,
) -> list[DeviceMetrics]:
    """Polls every session at once on a bounded pool; returns results in order."""
    return fanout.run_all(
        list(sessions),
        lambda i, s: s.poll(cancel),
        workers=workers,
        cancel=cancel or CancelToken(),
        abandon=lambda i, s: DeviceMetrics(s.device.name, False, f"{s.device.name}: cancelled"),
        grace_s=0.0,
        name="metrics",
    )
