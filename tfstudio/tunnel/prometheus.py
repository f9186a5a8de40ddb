"""A reader of the Prometheus text format (0.0.4) and the arithmetic on its histograms.

Pure functions, tested offline on captured pages: `parse` a page into samples,
`histogram` a family out of them, `delta` two scrapes of it (a rate window),
and `quantile` it the way PromQL's `histogram_quantile` does (linear within
the bucket that holds the rank).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

Labels = tuple[tuple[str, str], ...]
Samples = dict[tuple[str, Labels], float]

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+\d+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _unescape(value: str) -> str:
    return value.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")


def parse(text: str) -> Samples:
    """Returns {(metric name, sorted labels): value} of every sample line; comments and
    lines it cannot read are skipped."""
    out: Samples = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            continue
        name, labels, value = match.groups()
        pairs = tuple(sorted((k, _unescape(v)) for k, v in _LABEL.findall(labels or "")))
        try:
            out[(name, pairs)] = float(value)
        except ValueError:
            continue
    return out


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """Returns the sample `name{labels}`, or None."""
    return samples.get((name, tuple(sorted(labels.items()))))


def total(samples: Samples, name: str, **match: str) -> float:
    """Returns the sum of every `name` sample whose labels include `match`."""
    return sum(
        v
        for (n, labels), v in samples.items()
        if n == name and all((k, want) in labels for k, want in match.items())
    )


@dataclass(frozen=True)
class Histogram:
    """Cumulative bucket counts by upper bound (the last bound is +inf), sum and count."""

    bounds: tuple[float, ...]
    counts: tuple[float, ...]
    total: float
    count: float


def histogram(samples: Samples, name: str) -> Histogram:
    """Returns the histogram family `name` (no labels besides `le`); empty when absent."""
    buckets = []
    for (n, labels), v in samples.items():
        if n == f"{name}_bucket":
            le = dict(labels).get("le")
            if le is not None:
                buckets.append((math.inf if le == "+Inf" else float(le), v))
    buckets.sort()
    return Histogram(
        tuple(b for b, _ in buckets),
        tuple(c for _, c in buckets),
        value(samples, f"{name}_sum") or 0.0,
        value(samples, f"{name}_count") or 0.0,
    )


def delta(now: Histogram, before: Histogram | None) -> Histogram:
    """Returns what was observed between two scrapes (`now` alone after a counter reset)."""
    if before is None or before.bounds != now.bounds or now.count < before.count:
        return now
    return Histogram(
        now.bounds,
        tuple(a - b for a, b in zip(now.counts, before.counts)),
        now.total - before.total,
        now.count - before.count,
    )


def quantile(hist: Histogram, q: float) -> float | None:
    """Returns the q-quantile (0 < q <= 1) estimated from the buckets, or None when empty.

    Linear interpolation inside the bucket holding the rank, from 0 for the
    first bucket; a rank in the +Inf bucket gives the largest finite bound.
    """
    if hist.count <= 0 or not hist.bounds:
        return None
    rank = q * hist.count
    lower, below = 0.0, 0.0
    for bound, cumulative in zip(hist.bounds, hist.counts):
        if cumulative >= rank:
            if math.isinf(bound):
                return lower
            inside = cumulative - below
            if inside <= 0:
                return bound
            return lower + (bound - lower) * (rank - below) / inside
        lower, below = bound, cumulative
    return lower
