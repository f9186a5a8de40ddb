"""The bench view: device × model latency (p50, p90, p99, init, first, memory),
a p50 history line for the selected row, and export to JSON and CSV.

`x` switches the table to the variants × devices matrix (`tfstudio report`'s:
every logged variant on every device, with size, host and device accuracy,
runtime; a pair never measured is a row marked "not measured") and back.

Rows come from the studio's stored bench history, so a restart shows them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import (
    Button,
    DataTable,
    Input,
    Label,
    Select,
    Sparkline,
    Static,
)

from tfstudio.formatting import ms
from tfstudio.tui.messages import Benched, DeviceAnswer, Progress, ReportRead, WorldRead
from tfstudio.tui.screens.base import StudioScreen
from tfstudio.tui.widgets.choices import set_devices, set_models
from tfstudio.tui.widgets.chrome import KeyFooter, ViewBar
from tfstudio.tui.widgets.hints import ui_hint
from tfstudio.tui.widgets.progress import TargetProgress
from tfstudio.tui.widgets.tables import fill, selected_key
from tfstudio.tui.widgets.ticks import TickList

LATEST_COLUMNS = ("device", "model", "p50", "p90", "p99", "init", "first", "MB", "when")
SPARK_MIN = 3
"""Fewest runs drawn as a line (fewer are listed as numbers)."""
ACTIVE = "__active__"
"""The Select value meaning "each device's active model"."""


class BenchScreen(StudioScreen):
    """Measure models on devices and compare."""

    VIEW = "bench"
    SUBMIT = "bench"
    OPERATIONS = frozenset({"bench"})

    BINDINGS = [
        Binding("ctrl+r", "bench", "Bench"),
        Binding("e", "export", "Export"),
        Binding("x", "matrix", "Matrix", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.history: list[dict[str, Any]] = []
        self.matrix = False
        """True while the table shows the variants × devices matrix."""

    def compose(self) -> ComposeResult:
        yield ViewBar(self.VIEW)
        with Horizontal(id="bench-body"):
            with VerticalScroll(id="bench-form", classes="form", can_focus=False):
                yield Label("Model")
                yield Select[str]([("active model", ACTIVE)], value=ACTIVE, id="bench-model")
                yield Label("Devices")
                yield TickList(id="bench-targets")
                yield Label("Runs")
                yield Input(id="runs", placeholder="the agent's default", compact=True)
                yield Button("Bench (ctrl+r)", variant="primary", id="bench", classes="run-button")
            with Vertical(id="bench-main"):
                yield Static("", id="bench-status", classes="op-status")
                yield TargetProgress(id="bench-progress")
                yield DataTable(id="bench-table", cursor_type="row", zebra_stripes=True)
                yield Label("p50 history of the selected row (ms)", id="spark-label")
                yield Sparkline([], id="bench-spark")
        yield KeyFooter()

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#bench-table", DataTable)
        table.border_title = "Latency (ms)"
        table.add_columns(*LATEST_COLUMNS)

    def refresh_view(self) -> None:
        """Re-reads what the view shows."""
        self.read_state()

    @work(thread=True, exclusive=True, exit_on_error=False, group="read", description="read")
    def read_state(self) -> None:
        """Reads history, models and devices for the view."""
        studio = self.studio
        self.history = studio.bench_history()
        self.post_message(WorldRead([], studio.device_summaries(), studio.models()))

    def on_world_read(self, message: WorldRead) -> None:
        select = self.query_one("#bench-model", Select)
        set_models(select, message.models, first=("active model", ACTIVE))
        set_devices(self.query_one("#bench-targets", TickList), message.devices)
        self.show_history()

    def show_history(self) -> None:
        """Fills the table with the newest row per (device, model)."""
        if self.matrix:
            self.read_matrix()
            return
        latest: dict[str, dict[str, Any]] = {}
        for entry in self.history:
            latest[f"{entry.get('device')}|{entry.get('model')}"] = entry
        rows = [
            (
                key,
                [e.get("device"), e.get("model"), ms(e.get("p50_ms")), ms(e.get("p90_ms")),
                 ms(e.get("p99_ms")), ms(e.get("init_ms"), 1), ms(e.get("first_invoke_ms")),
                 ms(e.get("rss_peak_mb"), 0), str(e.get("time", ""))[5:16].replace("T", " ")],
            )
            for key, e in sorted(latest.items())
        ]  # fmt: skip
        fill(self.query_one("#bench-table", DataTable), rows)
        count = len(self.history)
        self.query_one("#bench-status", Static).update(
            f"{len(rows)} device/model pairs, {count} runs stored"
            if rows
            else "no bench yet: ctrl+r"
        )
        self._spark()

    def action_matrix(self) -> None:
        """Switches between the newest runs and the variants × devices matrix."""
        self.matrix = not self.matrix
        table = self.query_one("#bench-table", DataTable)
        if self.matrix:
            self.read_matrix()
            return
        table.clear(columns=True)
        table.add_columns(*LATEST_COLUMNS)
        table.border_title = "Latency (ms)"
        self.show_history()

    @work(thread=True, exclusive=True, exit_on_error=False, group="matrix", description="matrix")
    def read_matrix(self) -> None:
        """Builds the matrix from the bench, deploy and eval logs (every registered device
        is a column, measured or not)."""
        studio = self.studio
        names = [d.name for d in studio.devices()]
        self.post_message(ReportRead(studio.bench_report(devices=names)))

    def on_report_read(self, message: ReportRead) -> None:
        from tfstudio.studio.types import table_rows

        if not self.matrix:
            return
        headers, rows = table_rows(message.report)
        table = self.query_one("#bench-table", DataTable)
        table.clear(columns=True)
        table.add_columns(*headers)
        for i, row in enumerate(rows):
            table.add_row(
                *("-" if v is None else str(v) for v in row), key=f"{row[0]}|{row[1]}|{i}"
            )
        table.border_title = "Variants × devices"
        summary = message.report.to_json()
        self.query_one("#bench-status", Static).update(
            f"matrix: {summary['measured_cells']} measured, "
            f"{summary['unmeasured_cells']} not measured  [dim]x: newest runs[/]"
        )

    @on(DataTable.RowHighlighted, "#bench-table")
    def _spark(self) -> None:
        key = selected_key(self.query_one("#bench-table", DataTable))
        values = [
            float(e["p50_ms"])
            for e in self.history
            if f"{e.get('device')}|{e.get('model')}" == key and e.get("p50_ms") is not None
        ]
        spark = self.query_one("#bench-spark", Sparkline)
        label = self.query_one("#spark-label", Label)
        if len(values) < SPARK_MIN:
            # One or two points draw as a solid block: say the numbers instead.
            spark.data = []
            numbers = ", ".join(ms(v) for v in values) or "none"
            label.update(f"p50 runs of the selected row (ms): {numbers}")
        else:
            spark.data = values
            label.update(
                f"p50 history of the selected row (ms): {len(values)} runs, "
                f"{ms(min(values))} to {ms(max(values))}"
            )

    @on(Button.Pressed, "#bench")
    def action_bench(self) -> None:
        """Starts a bench of the chosen model on the chosen devices."""
        devices = list(self.query_one("#bench-targets", TickList).selected)
        if not devices:
            self.notify("choose at least one device", severity="warning")
            return
        value = self.query_one("#bench-model", Select).value
        model = None if value in (ACTIVE, Select.BLANK) else Path(str(value))
        runs_text = self.query_one("#runs", Input).value.strip()
        if runs_text and not runs_text.isdigit():
            self.notify("runs must be a whole number", severity="warning")
            return
        what = model.name if model is not None else "the active model"
        token = self.start(self.action_bench, f"benchmarking {what}", devices)
        self.run_bench(devices, model, int(runs_text) if runs_text else None, token)

    @work(thread=True, exclusive=True, exit_on_error=False, group="bench", description="bench")
    def run_bench(
        self, devices: list[str], model: Path | None, runs: int | None, token: Any
    ) -> None:
        """Benchmarks in this thread, posting events and the result."""
        from tfstudio.studio.types import BenchSettings

        studio = self.studio
        result = studio.bench(
            studio.resolve(devices),
            model,
            BenchSettings(runs=runs),
            on_event=lambda e: self.post_message(Progress(e)),
            cancel=token,
        )
        self.history = studio.bench_history()
        self.post_message(Benched(result))

    def on_progress(self, message: Progress) -> None:
        self.query_one(TargetProgress).apply(message.event)

    def on_benched(self, message: Benched) -> None:
        self.show_history()
        for row in message.result:
            if not row.ok:
                self.notify(
                    row.message + (f" (fix: {ui_hint(row.hint)})" if row.hint else ""),
                    title=f"bench {row.device}",
                    severity="error",
                )

    def operation_ended(self, worker: Any) -> None:
        if worker.group == "bench":
            self.query_one("#bench", Button).disabled = False

    def action_export(self) -> None:
        """Writes the stored bench rows to HOME/exports as JSON and CSV."""
        self.run_export()

    @work(thread=True, exclusive=True, exit_on_error=False, group="export", description="export")
    def run_export(self) -> None:
        """Exports in this thread."""
        from tfstudio.studio.types import export_bench

        paths = export_bench(self.studio.bench_history(), self.studio.home / "exports")
        self.post_message(DeviceAnswer("", "export", paths))

    def on_device_answer(self, message: DeviceAnswer) -> None:
        json_path, csv_path = message.answer
        self.notify(f"{json_path}\n{csv_path}", title="exported", timeout=8)
