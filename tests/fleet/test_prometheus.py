"""The metrics page reader, offline: a page captured from a real `serve` (7 good predicts of
3 instances, 1 bad request, 1 earlier scrape), percentiles and rates between scrapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfstudio.tunnel import prometheus
from tfstudio.tunnel.telemetry import PREFIX, summarize

PAGE = (Path(__file__).parent / "data" / "metrics_page.txt").read_text()


def test_parse_reads_every_sample_of_a_real_page() -> None:
    samples = prometheus.parse(PAGE)
    assert prometheus.value(samples, PREFIX + "requests_total", endpoint="predict", code="200") == 7
    assert prometheus.total(samples, PREFIX + "requests_total", endpoint="predict") == 8
    hist = prometheus.histogram(samples, PREFIX + "predict_latency_seconds")
    assert hist.count == 7 and hist.bounds[-1] == float("inf") and hist.counts[-1] == 7
    assert list(hist.bounds) == sorted(hist.bounds)
    active = [k for k in samples if k[0] == PREFIX + "active_model"]
    assert dict(active[0][1])["name"] == "digits"


def test_quantile_interpolates_like_promql() -> None:
    hist = prometheus.Histogram((0.001, 0.0025, 0.005, float("inf")), (3, 6, 7, 7), 0.0153, 7)
    # rank 3.5 falls in (0.001, 0.0025], which holds 3: 0.001 + 0.0015 * 0.5 / 3
    assert prometheus.quantile(hist, 0.5) == pytest.approx(0.00125)
    assert prometheus.quantile(hist, 1.0) == pytest.approx(0.005)
    first = prometheus.Histogram((0.01, float("inf")), (4, 4), 0.0, 4)
    assert prometheus.quantile(first, 0.5) == pytest.approx(0.005)  # from 0 in the first bucket
    beyond = prometheus.Histogram((0.01, float("inf")), (0, 2), 5.0, 2)
    assert prometheus.quantile(beyond, 0.99) == 0.01  # the largest finite bound
    assert prometheus.quantile(prometheus.Histogram((), (), 0, 0), 0.5) is None


def test_summary_leaves_the_scrapes_out_of_the_traffic() -> None:
    metrics = summarize("pi", prometheus.parse(PAGE), scrape_ms=3.2)
    assert metrics.ok and metrics.since_start
    assert metrics.requests == 8 and metrics.errors == 1 and metrics.predicts == 7
    assert metrics.instances == 21 and metrics.invoke_latency and metrics.invoke_latency.count == 21
    assert metrics.request_latency and metrics.request_latency.count == 7
    lat = metrics.request_latency
    assert lat.p50_ms is not None and lat.p99_ms is not None and lat.p50_ms <= lat.p99_ms
    assert metrics.active and metrics.active["name"] == "digits"
    assert metrics.window_s == pytest.approx(metrics.uptime_s, abs=0.05)
    assert metrics.request_rate == pytest.approx(8 / metrics.window_s, rel=0.01)


def _later(page: str, predicts: int, seconds: float) -> str:
    """The page `seconds` later, after `predicts` more predicts that took 4 ms each."""
    out = []
    for line in page.splitlines():
        name, _, value = line.rpartition(" ")
        if line.startswith(PREFIX + "uptime_seconds"):
            value = f"{float(value) + seconds:.3f}"
        elif 'requests_total{endpoint="predict",code="200"}' in line:
            value = str(int(value) + predicts)
        elif line.startswith(PREFIX + "predict_latency_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            if le == "+Inf" or float(le) >= 0.004:
                value = str(int(value) + predicts)
        elif line.startswith(PREFIX + "predict_latency_seconds_count"):
            value = str(int(value) + predicts)
        out.append(f"{name} {value}" if name else line)
    return "\n".join(out)


def test_rates_and_percentiles_over_the_window_between_scrapes() -> None:
    before = prometheus.parse(PAGE)
    after = prometheus.parse(_later(PAGE, 40, 2.0))
    metrics = summarize("pi", after, before)
    assert not metrics.since_start and metrics.window_s == pytest.approx(2.0)
    assert metrics.request_rate == pytest.approx(20.0) and metrics.predict_rate == pytest.approx(
        20.0
    )
    assert metrics.error_rate == 0.0
    lat = metrics.request_latency
    assert lat is not None and lat.count == 40
    assert 2.5 <= (lat.p50_ms or 0) <= 5.0  # only the window's 4 ms predicts count
    restarted = summarize("pi", before, after)  # uptime went down: counters reset
    assert restarted.since_start and restarted.predicts == 7
