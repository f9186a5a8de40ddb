"""One matrix of variant × device from what the studio logged: deploys, benches, evals.

A variant is a model, known by its sha256 (named after its file). Each cell
holds the latest bench on that device (a bench, or the latency a deploy's health
gate measured: `deploy --bench` is a measurement too) (for a thread sweep: its fastest run,
with the thread count) and the latest eval, beside the variant's size and
host accuracy (the host's figure of the latest eval, else the convert
manifest's). Every variant meets every device: a pair with neither a bench nor
an eval is kept and marked unmeasured, so a missing number is visible rather
than absent. `reportfmt` renders it as a table, JSON, CSV or Markdown.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfstudio.digest import file_sha256
from tfstudio.fleet import deploylog
from tfstudio.measure import log

COLUMNS: tuple[str, ...] = (
    "variant",
    "device",
    "size_bytes",
    "host_accuracy",
    "device_accuracy",
    "p50_ms",
    "p99_ms",
    "init_ms",
    "first_invoke_ms",
    "rss_peak_mb",
    "threads",
    "runtime",
    "measured_at",
    "drift",
    "deployed",
    "measured",
)
"""The matrix's columns, in order (`measured`: bench+eval, bench, eval or no)."""


@dataclass
class Variant:
    """One model: its sha256, a name, its size and the host's accuracy on eval data."""

    sha256: str
    name: str | None = None
    size_bytes: int | None = None
    host_accuracy: float | None = None
    host_source: str | None = None
    manifest: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Returns the fields."""
        return dict(self.__dict__)


@dataclass
class Cell:
    """What was measured of one variant on one device (latest of each kind)."""

    sha256: str
    device: str
    bench: dict[str, Any] | None = None
    eval: dict[str, Any] | None = None
    deployed: str | None = None

    @property
    def measured(self) -> str:
        """'bench+eval', 'bench', 'eval' or 'no'."""
        kinds = [k for k, v in (("bench", self.bench), ("eval", self.eval)) if v]
        return "+".join(kinds) or "no"

    def values(self, variant: Variant) -> dict[str, Any]:
        """Returns the row of this cell, one value per column (None where unmeasured)."""
        bench = self.bench or {}
        figures = (self.eval or {}).get("device_figures") or {}
        device_accuracy = figures.get("accuracy")
        if device_accuracy is None:
            device_accuracy = figures.get("top1_agreement")
        times = [t for t in (bench.get("time"), (self.eval or {}).get("time")) if t]
        runtime = bench.get("runtime") or (self.eval or {}).get("runtime")
        return {
            "variant": variant.name or variant.sha256[:12],
            "device": self.device,
            "size_bytes": variant.size_bytes,
            "host_accuracy": variant.host_accuracy,
            "device_accuracy": device_accuracy,
            "p50_ms": bench.get("p50_ms"),
            "p99_ms": bench.get("p99_ms"),
            "init_ms": bench.get("init_ms"),
            "first_invoke_ms": bench.get("first_invoke_ms"),
            "rss_peak_mb": bench.get("rss_peak_mb"),
            "threads": bench.get("threads"),
            "runtime": runtime,
            "measured_at": max(times) if times else None,
            "drift": (self.eval or {}).get("drift"),
            "deployed": self.deployed,
            "measured": self.measured,
        }


@dataclass
class Report:
    """The matrix: variants (rows), devices (columns) and a cell for every pair."""

    variants: list[Variant] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    rollout: dict[str, Any] | None = None
    """The staged rollout this matrix is restricted to (`report --rollout ID`), if any."""

    def restrict(self, sha256: str, devices: Sequence[str]) -> Report:
        """Returns the matrix of one variant on `devices` (in that order)."""
        variants = [v for v in self.variants if v.sha256 == sha256] or [Variant(sha256)]
        cells = {k: c for k, c in self.cells.items() if k[0] == sha256 and k[1] in devices}
        return Report(variants, list(devices), cells)

    def cell(self, sha256: str, device: str) -> Cell:
        """Returns the cell of a pair (an unmeasured one when nothing was logged)."""
        return self.cells.get((sha256, device)) or Cell(sha256, device)

    def rows(self) -> list[dict[str, Any]]:
        """Returns one row per variant × device, variants then devices in order."""
        return [self.cell(v.sha256, d).values(v) for v in self.variants for d in self.devices]

    def to_json(self) -> dict[str, Any]:
        """Returns {columns, variants, devices, rows, measured_cells, unmeasured_cells}."""
        rows = self.rows()
        unmeasured = sum(1 for r in rows if r["measured"] == "no")
        out = {
            "columns": list(COLUMNS),
            "variants": [v.to_json() for v in self.variants],
            "devices": list(self.devices),
            "rows": rows,
            "measured_cells": len(rows) - unmeasured,
            "unmeasured_cells": unmeasured,
        }
        if self.rollout is not None:
            out["rollout"] = self.rollout
        return out


def _variant(report: Report, sha: str | None) -> Variant | None:
    if not sha:
        return None
    for v in report.variants:
        if v.sha256 == sha:
            return v
    found = Variant(sha)
    report.variants.append(found)
    return found


def _device(report: Report, name: str | None) -> None:
    if name and name not in report.devices:
        report.devices.append(name)


def _name_from(label: Any) -> str | None:
    text = str(label or "")
    return Path(text).name if text.endswith(".tflite") else None


def _manifest_accuracy(path: str | Path | None) -> float | None:
    if not path:
        return None
    try:
        metrics = json.loads(Path(path).read_text(encoding="utf-8")).get("metrics") or {}
    except (OSError, ValueError, AttributeError):
        return None
    value = metrics.get("accuracy") if isinstance(metrics, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def _latest_bench(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The latest bench; for a sweep, its fastest run."""
    last = entries[-1]
    sweep = last.get("sweep")
    if not sweep:
        return last
    runs = [e for e in entries if e.get("sweep") == sweep]
    fastest = [e for e in runs if e.get("fastest")]
    return fastest[-1] if fastest else last


def deploy_benches(entries: Sequence[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Returns the latency each deploy's health gate measured, as bench log entries
    (`source: deploy`), oldest first; `entries`: the deploy log's (read when None)."""
    out = []
    for entry in deploylog.read() if entries is None else entries:
        bench = entry.get("bench") or {}
        if bench.get("p50_ms") is None or not entry.get("device") or not entry.get("sha256"):
            continue
        out.append(
            {
                **bench,
                "time": entry.get("time"),
                "device": entry["device"],
                "model": _name_from(entry.get("model")) or entry.get("model"),
                "sha256": entry["sha256"],
                "size_bytes": entry.get("size_bytes"),
                "source": "deploy",
            }
        )
    return out


def build_report(models: Sequence[Path] = (), devices: Sequence[str] = ()) -> Report:
    """Returns the matrix of every logged variant and device, plus `models` and `devices`
    (so that what was never measured shows up as unmeasured).

    Raises OutputError when a log cannot be read.
    """
    report = Report()
    for name in devices:
        _device(report, name)
    for path in models:
        variant = _variant(report, file_sha256(path))
        assert variant is not None
        variant.name = path.name
        variant.size_bytes = path.stat().st_size
        manifest = deploylog.find_manifest(path)
        variant.manifest = str(manifest) if manifest else None
    deploys = deploylog.read()
    for entry in deploys:
        variant = _variant(report, entry.get("sha256"))
        if variant is None:
            continue
        _device(report, entry.get("device"))
        variant.name = variant.name or _name_from(entry.get("model"))
        variant.size_bytes = variant.size_bytes or entry.get("size_bytes")
        variant.manifest = variant.manifest or (entry.get("provenance") or {}).get("manifest")
        cell = report.cells.setdefault(
            (variant.sha256, entry["device"]), Cell(variant.sha256, entry["device"])
        )
        cell.deployed = entry.get("result")
    benches: dict[tuple[str, str], list[dict[str, Any]]] = {}
    measured = log.read(log.BENCH) + deploy_benches(deploys)
    for entry in sorted(measured, key=lambda e: str(e.get("time") or "")):
        variant = _variant(report, entry.get("sha256"))
        if variant is None or not entry.get("device"):
            continue
        _device(report, entry["device"])
        variant.name = variant.name or _name_from(entry.get("model")) or entry.get("model")
        variant.size_bytes = variant.size_bytes or entry.get("size_bytes")
        benches.setdefault((variant.sha256, entry["device"]), []).append(entry)
    for key, entries in benches.items():
        report.cells.setdefault(key, Cell(*key)).bench = _latest_bench(entries)
    for entry in log.read(log.EVALS):
        variant = _variant(report, entry.get("sha256"))
        if variant is None or not entry.get("device") or not entry.get("device_figures"):
            continue
        _device(report, entry["device"])
        variant.name = variant.name or _name_from(entry.get("model")) or entry.get("model")
        variant.size_bytes = variant.size_bytes or entry.get("size_bytes")
        host = entry.get("host") or {}
        score = host.get("accuracy") if host.get("accuracy") is not None else None
        if score is not None:
            variant.host_accuracy, variant.host_source = score, host.get("source")
        report.cells.setdefault(
            (variant.sha256, entry["device"]), Cell(variant.sha256, entry["device"])
        ).eval = entry
    for variant in report.variants:
        if variant.host_accuracy is None:
            variant.host_accuracy = _manifest_accuracy(variant.manifest)
            variant.host_source = "convert manifest" if variant.host_accuracy is not None else None
    return report
