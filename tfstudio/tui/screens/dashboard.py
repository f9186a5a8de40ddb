"""The home screen: readiness of each part, and live Jobs, Models and Devices panes.

The selected row's details show in the side panel. With nothing set up, the
Models pane offers the demo (`d`), and each missing part shows its fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from tfstudio.formatting import human_bytes, ms, online, percent
from tfstudio.operations import StageStarted, TargetFinished
from tfstudio.tui.messages import DemoFinished, JobsRead, Progress, WorldRead
from tfstudio.tui.screens.base import StudioScreen
from tfstudio.tui.widgets import jobtext
from tfstudio.tui.widgets.chrome import KeyFooter, ViewBar
from tfstudio.tui.widgets.hints import ui_hint
from tfstudio.tui.widgets.tables import fill, selected_key
from tfstudio.workflows.demo.report import STAGES as DEMO_STAGES

if TYPE_CHECKING:
    from tfstudio.studio.overview import DeviceSummary, Readiness
    from tfstudio.studio.training_types import EngineJobs
    from tfstudio.studio.types import ModelEntry

JOBS_REFRESH_S = 5.0
"""Seconds between two reads of the Jobs pane while the dashboard is shown."""
WORLD_REFRESH_S = 15.0
"""Seconds between two reads of the Models and Devices panes while the dashboard is
shown (a conversion or a deploy from the CLI shows up without `r`)."""
ENGINE_ROW = "engine"


class DashboardScreen(StudioScreen):
    """Jobs, Models and Devices at a glance."""

    VIEW = "dashboard"
    OPERATIONS = frozenset({"demo"})

    BINDINGS = [
        Binding("d", "demo", "Demo"),
        Binding("r", "refresh", "Refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[Readiness] = []
        self.device_rows: dict[str, DeviceSummary] = {}
        self.model_rows: dict[str, ModelEntry] = {}
        self.board: EngineJobs | None = None
        self.demo_stages: dict[str, str] = {}
        """Each demo stage's line in the side panel while the demo runs."""

    def compose(self) -> ComposeResult:
        yield ViewBar(self.VIEW)
        yield Static("checking what is installed...", id="readiness")
        with Horizontal(id="dash-body"):
            with Vertical(id="dash-panes"):
                yield DataTable(id="jobs", cursor_type="row", zebra_stripes=True)
                yield DataTable(id="models", cursor_type="row", zebra_stripes=True)
                yield DataTable(id="devices", cursor_type="row", zebra_stripes=True)
            yield Static("", id="details")
        yield KeyFooter()

    def on_mount(self) -> None:
        super().on_mount()
        jobs = self.query_one("#jobs", DataTable)
        jobs.border_title = "Jobs"
        jobs.add_columns("job", "state", "time", "cpu", "mem", "image")
        models = self.query_one("#models", DataTable)
        models.border_title = "Models"
        models.add_columns("model", "mode", "size", "min rt", "acc")
        devices = self.query_one("#devices", DataTable)
        devices.border_title = "Devices"
        devices.add_columns("device", "online", "runtime", "p50", "p99", "active")
        self.poll(JOBS_REFRESH_S, "jobs", self.read_jobs)
        self.poll(WORLD_REFRESH_S, "world", self.read_world)

    def refresh_view(self) -> None:
        """Re-reads readiness, devices, models and jobs in workers (also `r`)."""
        self.read_world()
        self.read_jobs()

    action_refresh = refresh_view

    @work(thread=True, exclusive=True, exit_on_error=False, group="jobs", description="jobs")
    def read_jobs(self) -> None:
        """Reads the default engine's jobs, or its state and fix (never on the UI thread)."""
        self.post_message(JobsRead(self.studio.training.board()))

    def on_jobs_read(self, message: JobsRead) -> None:
        board = self.board = message.board
        if board.needs_passphrase:
            # The jobs view asks for it (2); a periodic read here must not open dialogs.
            self.studio.connector.missing_passphrases()
            rows = [(ENGINE_ROW, [board.engine, "locked", "", "", "", "key passphrase: press 2"])]
        elif not board.reachable:
            rows = [(ENGINE_ROW, [board.engine, "down", "", "", "", ui_hint(board.hint) or ""])]
        elif not board.jobs:
            rows = [(ENGINE_ROW, ["none yet", "2 then n: a job", "", "", "", ""])]
        else:
            rows = [(j.job_id, jobtext.row(j)[:5] + [j.image_ref]) for j in board.jobs]
        fill(self.query_one("#jobs", DataTable), rows)
        if self.focused is self.query_one("#jobs", DataTable):
            self._show_details(self.query_one("#jobs", DataTable))

    @work(thread=True, exclusive=True, exit_on_error=False, group="world", description="read")
    def read_world(self) -> None:
        """Reads the studio's state (pings the engine: never on the UI thread)."""
        studio = self.studio
        self.post_message(WorldRead(studio.readiness(), studio.device_summaries(), studio.models()))

    def on_world_read(self, message: WorldRead) -> None:
        self.parts = message.parts
        self.device_rows = {d.name: d for d in message.devices}
        self.model_rows = {str(m.path): m for m in message.models}
        missing = [p for p in message.parts if not p.ok]
        marks = [
            f"[$success]✓[/] {p.part}" if p.ok else f"[$warning]✗[/] {p.part}"
            for p in message.parts
        ]
        lines = ["  ".join(marks)]
        lines += [f"[$warning]{ui_hint(p.line)}[/]" for p in missing if p.fix][:2]
        if not any(w.group == "demo" and w.is_running for w in self.workers):
            self.query_one("#readiness", Static).update("\n".join(lines))  # else: its progress
        if message.models:
            models = [
                (
                    key,
                    [_model_name(m, message.models), m.mode, human_bytes(m.size_bytes),
                     m.min_runtime_version or "-", percent(m.score)],
                )
                for key, m in self.model_rows.items()
            ]  # fmt: skip
        else:
            models = [("demo", ["none yet: press d for the demo", "", "", "", ""])]
        fill(self.query_one("#models", DataTable), models)
        devices = [
            (
                d.name,
                [d.name, online(d.reachable), d.runtime or "-", ms(d.p50_ms), ms(d.p99_ms),
                 d.active or "-"],
            )
            for d in message.devices
        ]  # fmt: skip
        fill(self.query_one("#devices", DataTable), devices)
        self._show_details(self.focused if isinstance(self.focused, DataTable) else None)

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        # A pane refilled by a read moves its cursor too: only the focused pane's
        # row is the one the user looks at.
        if event.data_table.has_focus:
            self._show_details(event.data_table)

    def _show_details(self, table: DataTable[Any] | None) -> None:
        if any(w.group == "demo" and w.is_running for w in self.workers):
            self._show_demo_stages()  # the demo's progress keeps the panel while it runs
            return
        panel = self.query_one("#details", Static)
        key = selected_key(table) if table is not None else None
        if table is None or key is None:
            panel.update(_welcome(self.model_rows))
            return
        if table.id == "models" and key in self.model_rows:
            panel.update(_model_details(self.model_rows[key]))
        elif table.id == "devices" and key in self.device_rows:
            panel.update(_device_details(self.device_rows[key]))
        elif table.id == "jobs" and self.board is not None:
            job = next((j for j in self.board.jobs if j.job_id == key), None)
            panel.update(jobtext.details(job) if job else jobtext.engine_line(self.board))
        else:
            panel.update(_welcome(self.model_rows))

    def action_demo(self) -> None:
        """Runs the demo end to end (train, export, convert, deploy, bench), with progress;
        with devices besides `local`, asks on which one first."""
        if self.busy and any(w.group == "demo" for w in self.workers if w.is_running):
            self.notify("the demo is already running", timeout=3)
            return
        if len(self.device_rows) <= 1:
            self.start_demo("local")
            return
        from tfstudio.tui.modals.choice import ChoiceModal

        choices = [(name, f"{name}  {d.address}") for name, d in self.device_rows.items()]

        def picked(name: str | None) -> None:
            if name is not None:
                self.start_demo(name)

        note = "Enter runs the demo: every variant deployed to it and benched there."
        self.app.push_screen(
            ChoiceModal("Run the demo on", choices, current="local", note=note), picked
        )

    def start_demo(self, device: str) -> None:
        """Shows the demo's stages, then runs it on `device` in a worker (Escape cancels)."""
        token = self.begin(lambda: self.start_demo(device))
        self.demo_stages = {name: f"  {name}" for name in DEMO_STAGES}
        self.query_one("#readiness", Static).update("demo: starting...")
        self._show_demo_stages()
        self.run_demo(device, token)

    @work(thread=True, exclusive=True, exit_on_error=False, group="demo", description="demo")
    def run_demo(self, device: str, token: Any) -> None:
        """Runs the core's demo on `device`, posting its events, then its report."""
        from tfstudio.workflows.demo.pipeline import DemoOptions, run_demo

        report = run_demo(
            self.studio,
            options=DemoOptions(device=device),
            on_event=lambda e: self.post_message(Progress(e)),
            cancel=token,
        )
        from tfstudio.studio.types import read_entry

        entries = [e for r in report.rows if r.path and (e := read_entry(r.path))]
        self.post_message(DemoFinished(report, entries))

    def on_progress(self, message: Progress) -> None:
        event = message.event
        readiness = self.query_one("#readiness", Static)
        if event.operation == "demo" and isinstance(event, StageStarted):
            self.demo_stages[event.target] = f"[b]… {event.target}[/b]  {event.message}"
            readiness.update(
                f"demo [{event.index}/{event.total}] {event.message}   [dim]esc cancels[/]"
            )
            self._show_demo_stages()
        elif event.operation == "demo" and isinstance(event, TargetFinished):
            mark = "[$success]✓[/]" if event.ok else "[$error]✗[/]"
            seconds = float(event.data.get("seconds", 0.0))
            self.demo_stages[event.target] = (
                f"{mark} {event.target} {seconds:5.1f} s  {event.message}"
            )
            self._show_demo_stages()
        elif isinstance(event, TargetFinished) and event.operation in ("convert", "demo-step"):
            readiness.update(f"demo: {event.target}: {event.message}   [dim]esc cancels[/]")

    def _show_demo_stages(self) -> None:
        lines = "\n".join(self.demo_stages.values())
        self.query_one("#details", Static).update(f"[b]Demo[/b]\n\n{lines}")

    def operation_ended(self, worker: Any) -> None:
        if worker.group != "demo" or worker.error is None:
            return
        # Cancelled or failed: the progress lines say so at once, not after a refresh.
        from tfstudio.errors import CancelledError

        how = "cancelled" if isinstance(worker.error, CancelledError) else "failed"
        for name, line in self.demo_stages.items():
            if line.startswith("[b]…"):
                self.demo_stages[name] = f"[$warning]✗[/] {name}  {how}"
        self._show_demo_stages()
        self.query_one("#readiness", Static).update(f"demo {how}; d runs it again, r refreshes")

    def on_demo_finished(self, message: DemoFinished) -> None:
        from tfstudio.tui.modals.demo_result import DemoResultModal

        report = message.report
        self.notify(
            f"{sum(r.ok for r in report.rows)} of {len(report.rows)} variants deployed and "
            f"benched on {report.device} in {report.total_seconds:.0f} s",
            title="demo done",
            timeout=8,
        )
        self.studio_app.show_conversion(report, message.entries)
        self.app.push_screen(DemoResultModal(report))
        self.read_world()


def _model_name(model: ModelEntry, models: list[ModelEntry]) -> str:
    """The model's name, with its folder where another folder holds a model of that name
    and mode (two conversions of `model` side by side must not look the same)."""
    twins = [m for m in models if m.label == model.label]
    return f"{model.name} ({model.path.parent.name})" if len(twins) > 1 else model.name


def _welcome(models: dict[str, ModelEntry]) -> str:
    if models:
        return "Select a row for details.\n\n3 convert  4 deploy\n5 bench    6 devices\n? help"
    return (
        "[b]Welcome to tfstudio[/b]\n\nNo models yet. Press [b]d[/b] for the demo: train a "
        "small digits CNN, convert it in every mode, deploy each variant to the built-in "
        "[b]local[/b] device and measure its latency there (under a minute, no download)."
    )


def _model_details(m: ModelEntry) -> str:
    metrics = m.metrics or {}
    score = "\n".join(f"{k}: {v:.4g}" for k, v in metrics.items() if isinstance(v, float))
    return (
        f"[b]{m.label}[/b]\n{m.path}\n\nsize {human_bytes(m.size_bytes)}\n"
        f"sha256 {m.sha256[:16]}\nmin runtime {m.min_runtime_version or '-'}\n"
        f"source {m.source or '-'} ({m.source_kind or '?'})\ncreated {m.created_at or '-'}\n"
        f"{score}"
    )


def _device_details(d: DeviceSummary) -> str:
    return (
        f"[b]{d.name}[/b] ({d.device.kind})\n{d.address}\n\n"
        f"agent {'built in' if d.device.kind == 'local' else d.agent or '-'}\n"
        f"runtime {d.runtime or '-'}\nactive {d.active or '-'}\n"
        f"p50 {ms(d.p50_ms)} ms  p99 {ms(d.p99_ms)} ms\nlast seen {d.last_seen or 'never'}"
    )
