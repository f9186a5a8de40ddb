"""The measuring part of the facade: benchmarks, on-device accuracy, one real request, live
telemetry, and the matrix of everything measured.

`Studio` inherits it. The figures come from the device's own runtime through its agent;
every bench and eval is logged in TFSTUDIO_HOME, which is what `report` reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfstudio.operations import (
    CancelToken,
    EventCallback,
    FleetResult,
    Throttle,
    fleet_result,
)
from tfstudio.studio.devices import DeviceOps

if TYPE_CHECKING:
    import numpy as np

    from tfstudio.deploy.evalgate import EvalGate
    from tfstudio.fleet.registry import Device
    from tfstudio.measure.bench import BenchSettings
    from tfstudio.measure.evaldata import EvalData
    from tfstudio.measure.evaluate import EvalRun
    from tfstudio.measure.report import Report
    from tfstudio.studio.bench import BenchRow
    from tfstudio.tunnel.predict import PredictResult
    from tfstudio.tunnel.telemetry import DeviceMetrics, MetricsSession

DEFAULT_TOLERANCE = 0.01
"""Host/device accuracy difference flagged as runtime drift."""


class MeasureOps(DeviceOps):
    """Measurements on devices, for any front end."""

    def bench(
        self,
        devices: Sequence[Device],
        model: str | Path | None = None,
        settings: BenchSettings | None = None,
        *,
        inputs: str | Path | None = None,
        on_event: EventCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> FleetResult[BenchRow]:
        """Benchmarks `model` (None: each device's active model) on `devices`.

        `inputs`: real inputs (.npy/.npz). Each report is also stored in
        HOME/bench.jsonl (a thread sweep's under one id). Events: CONNECT and
        BENCH per device, ticks while a model or its inputs are sent, and
        TargetFinished with the row. Returns one BenchRow per device (never
        raises for a device's failure); raises ModelFormatError for a bad model file.
        """
        from tfstudio.measure.bench import BenchSettings, bench_many
        from tfstudio.operations import TargetFinished
        from tfstudio.studio.bench import BenchRow

        path = Path(model) if model is not None else None
        if path is not None:
            self.inspect(path)  # a bad file is one error, not one per device
        emit = Throttle(on_event)
        outcomes = bench_many(
            list(devices),
            path,
            settings or BenchSettings(),
            inputs=Path(inputs) if inputs is not None else None,
            workers=self.workers,
            connect=self.connector,
            cancel=cancel,
            on_event=emit,
        )
        rows = [BenchRow.of(o, path) for o in outcomes]
        for row in rows:
            emit(TargetFinished("bench", row.device, row.ok, row.message, row.to_json()))
        return fleet_result("bench", rows)

    def bench_history(self, device: str | None = None) -> list[dict[str, Any]]:
        """Returns the stored bench rows and the latency deploys measured (`source:
        deploy`), oldest first (one device's when named)."""
        from tfstudio import history
        from tfstudio.measure.report import deploy_benches

        rows = history.read(history.BENCH, device) + [
            e for e in deploy_benches() if device is None or e["device"] == device
        ]
        return sorted(rows, key=lambda e: str(e.get("time") or ""))

    def bench_report(
        self,
        models: Sequence[str | Path] = (),
        devices: Sequence[str] = (),
        *,
        rollout: str | None = None,
    ) -> Report:
        """Returns the variants x devices matrix of every logged bench, deploy and eval,
        plus `models` and `devices` (what was never measured shows as unmeasured).

        `rollout` (an id) restricts it to that rollout's model and devices, with the
        rollout's waves and each device's outcome in `Report.rollout`. Raises
        OutputError when a log cannot be read, UsageError for an unknown rollout.
        """
        from tfstudio.measure.report import Cell, build_report

        if rollout is None:
            return build_report([Path(m) for m in models], list(devices))
        from tfstudio.deploy.rolloutlog import RolloutRecord

        record = RolloutRecord.load(rollout)
        names = [n for wave in record.waves for n in wave.devices]
        report = build_report([], names).restrict(record.sha256, names)
        for name, known in record.devices.items():
            cell = report.cells.setdefault((record.sha256, name), Cell(record.sha256, name))
            if cell.bench is None and known.bench and known.status == "ok":
                cell.bench = {**known.bench, "time": record.updated}  # its health gate's
        report.rollout = {
            "id": record.id,
            "state": record.shown_state,
            "model": record.model,
            "selector": record.selector,
            "waves": [
                {"index": w.index, "state": w.state, "devices": w.devices} for w in record.waves
            ],
            "outcome": {
                name: {"wave": d.wave, "status": d.status, "rolled_back": d.rolled_back}
                for name, d in record.devices.items()
            },
        }
        return report

    # -- accuracy on the device -------------------------------------------------

    def eval_data(
        self, model: str | Path, data: str | Path, *, reference: str | Path | None = None
    ) -> EvalData:
        """Returns `data` ready to send for `model`: the file itself when it has labels,
        else `x` with the float model's outputs (`reference`, default the float32 variant
        beside `model`), made once and cached by hash.

        Raises RepresentativeDataError (one line) for data that does not fit the model.
        """
        from tfstudio.measure.evaldata import prepare_data

        return prepare_data(
            Path(model), Path(data), reference_model=Path(reference) if reference else None
        )

    def eval_gate(
        self,
        model: str | Path,
        data: str | Path,
        *,
        min_accuracy: float | None = None,
        reference: str | Path | None = None,
    ) -> EvalGate:
        """Returns the deploy gate that evaluates the new model on each device with `data`
        and rolls back below `min_accuracy` (a fraction). The data is checked here, before
        any device is touched.

        Raises UsageError (min_accuracy outside [0, 1]), RepresentativeDataError.
        """
        from tfstudio.deploy.evalgate import EvalGate
        from tfstudio.errors import UsageError

        if min_accuracy is not None and not 0 <= min_accuracy <= 1:
            raise UsageError("--min-accuracy is a fraction, from 0 to 1 (e.g. 0.95)")
        return EvalGate(self.eval_data(model, data, reference=reference), min_accuracy)

    def evaluate(
        self,
        model: str | Path,
        devices: Sequence[Device],
        data: str | Path,
        *,
        reference: str | Path | None = None,
        tolerance: float = DEFAULT_TOLERANCE,
        cancel: CancelToken | None = None,
    ) -> EvalRun:
        """Scores `model` on each device's own runtime with `data` (sent once, by hash),
        beside the host's figure; a difference beyond `tolerance` is runtime drift. Each
        outcome is logged. Never raises for a device's failure (its outcome says it).

        Raises ModelFormatError, UsageError (tolerance outside [0, 1)),
        RepresentativeDataError.
        """
        from tfstudio.errors import UsageError
        from tfstudio.measure.evaluate import eval_many

        if not 0 <= tolerance < 1:
            raise UsageError("--tolerance must be in [0, 1)")
        path = Path(model)
        self.inspect(path)  # a bad file is one line here, not N device errors
        prepared = self.eval_data(path, data, reference=reference)
        return eval_many(
            path,
            prepared,
            list(devices),
            connect=self.connector,
            tolerance=tolerance,
            workers=self.workers,
            cancel=cancel,
        )

    # -- the agent's server: one request, live telemetry --------------------------

    def predict(
        self, name: str, x: np.ndarray, *, cancel: CancelToken | None = None
    ) -> PredictResult:
        """Sends `x` (one instance or a batch) to the model served on device `name`
        (through its SSH connection to the server on the device's loopback); returns the
        answer. Raises DeviceError (no server), RepresentativeDataError (the input does not
        fit), TransportError.
        """
        from tfstudio.tunnel.predict import predict_on

        device = self.device(name)
        with self.connector(device) as transport:
            return predict_on(device, transport, x, cancel=cancel)

    def metrics(self, name: str) -> MetricsSession:
        """Returns a live-metrics session for device `name` (the agent's service, through
        an SSH tunnel kept between polls); its `poll()` never raises for the device's
        faults, and `close()` ends it. Raises DeviceError for an unknown name.
        """
        from tfstudio.tunnel.telemetry import MetricsSession

        return MetricsSession(self.device(name), self.connector)

    def scrape(
        self, sessions: Sequence[MetricsSession], *, cancel: CancelToken | None = None
    ) -> list[DeviceMetrics]:
        """Polls every session at once (rates since the previous poll); results in order.
        Never raises for a device's fault: its DeviceMetrics carries the error."""
        from tfstudio.tunnel.telemetry import scrape_many

        return scrape_many(sessions, workers=self.workers, cancel=cancel)
