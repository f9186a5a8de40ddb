"""The pipeline view: switch the watch pipeline on and off, and see its events live.

The form holds what `tfstudio watch` takes (folder, modes, data, devices,
bench, p99 gate, settle time); ctrl+r starts the watcher through the
app's watch pipeline (`tfstudio.workflows.pipeline.control`, a background
thread) and stops it again. Each
event arrives from that thread as a message and becomes a row; the chains
table (job image → SavedModel → variant → device) is re-read from the log
after every export. A failing step is a red row with its one-line error; the
watcher goes on.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import (
    Button,
    DataTable,
    Input,
    Label,
    Static,
)

from tfstudio.tui.screens.base import StudioScreen
from tfstudio.tui.widgets.choices import set_devices
from tfstudio.tui.widgets.chrome import KeyFooter, ViewBar
from tfstudio.tui.widgets.tables import fill
from tfstudio.tui.widgets.ticks import TickBox, TickList

if TYPE_CHECKING:
    from tfstudio.workflows.pipeline.events import PipelineEvent
    from tfstudio.workflows.pipeline.readback import ChainRow

MAX_ROWS = 300
"""Event rows kept on screen (the log keeps them all)."""


class PipelineEventPosted(Message):
    """One pipeline event, posted from the watcher's thread."""

    def __init__(self, event: PipelineEvent) -> None:
        super().__init__()
        self.event = event


class PipelineRead(Message):
    """What the view shows besides live events: devices, history, chains, running."""

    def __init__(
        self,
        devices: list[str],
        events: list[PipelineEvent],
        chains: list[ChainRow],
        running: bool,
    ) -> None:
        super().__init__()
        self.devices = devices
        self.events = events
        self.chains = chains
        self.running = running


class PipelineScreen(StudioScreen):
    """Watch a folder: new SavedModels become variants on devices, hands-free."""

    VIEW = "pipeline"
    SUBMIT = "switch"
    OPERATIONS = frozenset({"stop"})

    DEFAULT_CSS = """
    #pipe-main { width: 1fr; padding: 0 1; }
    #pipe-status { height: auto; color: $text-muted; }
    #pipe-events { height: 2fr; }
    #pipe-chains { height: 1fr; }
    """
    BINDINGS = [Binding("ctrl+r", "switch", "Start/stop"), Binding("r", "refresh", "Refresh")]

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def compose(self) -> ComposeResult:
        yield ViewBar(self.VIEW)
        with Horizontal(id="pipe-body"):
            with VerticalScroll(id="pipe-form", classes="form", can_focus=False):
                yield Label("Watch folder")
                yield Input(id="pipe-dir", placeholder="exports/<name>/<version>/", compact=True)
                yield Label("Modes")
                yield Input(
                    "float32", id="pipe-modes", placeholder="float32,int8 or all", compact=True
                )
                yield Label("Rep. data (int8)")
                yield Input(id="pipe-rep", placeholder=".npy/.npz/images", compact=True)
                yield Label("Eval data")
                yield Input(id="pipe-eval", placeholder=".npz with x, y", compact=True)
                yield Label("Deploy to")
                yield TickList(id="pipe-devices")
                yield TickBox("bench on each device", id="pipe-bench")
                yield Label("Max p99 (ms)")
                yield Input(id="pipe-p99", placeholder="roll back above it", compact=True)
                yield Label("Settle (s)")
                yield Input(id="pipe-settle", placeholder="5", compact=True)
                yield Button("Start (ctrl+r)", variant="primary", id="pipe-toggle")
            with Vertical(id="pipe-main"):
                yield Static("pipeline off", id="pipe-status")
                yield DataTable(id="pipe-events", cursor_type="row", zebra_stripes=True)
                yield DataTable(id="pipe-chains", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        super().on_mount()
        events = self.query_one("#pipe-events", DataTable)
        events.border_title = "Events (live)"
        events.add_columns("time", "export", "step", "target", "status", "message")
        chains = self.query_one("#pipe-chains", DataTable)
        chains.border_title = "Chains: image → SavedModel → variant → device"
        chains.add_columns("export", "image", "savedmodel", "mode", "variant", "device", "result")

    def refresh_view(self) -> None:
        """Re-reads devices, the log's recent events and the chains."""
        self.read_state()

    def action_refresh(self) -> None:
        """r: reads again."""
        self.read_state()

    @work(thread=True, exclusive=True, exit_on_error=False, group="read", description="read")
    def read_state(self) -> None:
        """Reads what the view shows (registry, the pipeline log)."""
        studio = self.studio
        pipeline = self.studio_app.pipeline
        events = pipeline.recent() or pipeline.log()[-50:]
        self.post_message(
            PipelineRead(
                [d.name for d in studio.devices()], events, pipeline.chains(), pipeline.running
            )
        )

    def on_pipeline_read(self, message: PipelineRead) -> None:
        set_devices(self.query_one("#pipe-devices", TickList), message.devices)
        if self.seen == 0:
            for event in message.events:
                self.add_event(event)
        self.show_chains(message.chains)
        self.show_running(message.running)

    # -- start / stop ---------------------------------------------------------

    @on(Button.Pressed, "#pipe-toggle")
    def action_switch(self) -> None:
        """ctrl+r: starts the pipeline with the form's settings, or stops it."""
        if self.studio_app.pipeline.running:
            self.query_one("#pipe-status", Static).update("stopping...")
            self.stop_pipeline()
        else:
            self._catch(lambda: self.start_pipeline(self.settings()))

    def settings(self) -> Any:
        """Returns the form as PipelineSettings. Raises UsageError for a bad field."""
        from tfstudio.errors import UsageError
        from tfstudio.studio.types import parse_modes
        from tfstudio.workflows.pipeline.settings import DEFAULT_SETTLE_S, PipelineSettings

        def text(widget_id: str) -> str:
            return self.query_one(f"#{widget_id}", Input).value.strip()

        def number(widget_id: str, what: str) -> float | None:
            raw = text(widget_id)
            try:
                return float(raw) if raw else None
            except ValueError:
                raise UsageError(f"{what} must be a number, not {raw!r}") from None

        folder = text("pipe-dir")
        if not folder:
            raise UsageError("name the folder to watch")
        settle = number("pipe-settle", "settle seconds")
        return PipelineSettings(
            root=Path(folder).expanduser().absolute(),
            modes=tuple(m.value for m in parse_modes(text("pipe-modes") or "float32")),
            rep_data=Path(text("pipe-rep")) if text("pipe-rep") else None,
            eval_data=Path(text("pipe-eval")) if text("pipe-eval") else None,
            deploy_to=tuple(self.query_one("#pipe-devices", TickList).selected),
            bench=self.query_one("#pipe-bench", TickBox).value,
            max_p99_ms=number("pipe-p99", "max p99"),
            settle_s=DEFAULT_SETTLE_S if settle is None else settle,
        )

    def _catch(self, call: Any) -> None:
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - the app's one place turns it into a message
            self.studio_app.report_failure(exc, None)

    def start_pipeline(self, settings: Any) -> None:
        """Starts the watcher (quick: it runs in the core's own thread). Raises
        UsageError, DeviceError."""
        self.studio_app.pipeline.start(settings, on_event=self._posted)
        self.show_running(True)

    def _posted(self, event: PipelineEvent) -> None:
        self.post_message(PipelineEventPosted(event))  # thread-safe: from the watcher's thread

    @work(thread=True, exclusive=True, exit_on_error=False, group="stop", description="stop")
    def stop_pipeline(self) -> None:
        """Stops the watcher; waits for the step in progress to cancel."""
        self.studio_app.pipeline.stop()
        self.app.call_from_thread(self.show_running, False)

    def show_running(self, running: bool) -> None:
        """Shows whether the watcher runs, and what the button does."""
        button = self.query_one("#pipe-toggle", Button)
        button.label = "Stop (ctrl+r)" if running else "Start (ctrl+r)"
        button.variant = "error" if running else "primary"
        settings = self.studio_app.pipeline.settings
        error = self.studio_app.pipeline.error
        status = self.query_one("#pipe-status", Static)
        if running and settings is not None:
            status.update(f"watching {settings.root}  modes {','.join(settings.modes)}")
        else:
            status.update(f"pipeline off  [red]{error}[/]" if error else "pipeline off")

    # -- events -----------------------------------------------------------------

    def on_pipeline_event_posted(self, message: PipelineEventPosted) -> None:
        self.add_event(message.event)
        event = message.event
        if event.step == "export" and event.status != "started":
            self.read_state()
        if event.step == "watch" and event.status == "stopped":
            self.show_running(False)

    def add_event(self, event: PipelineEvent) -> None:
        """Appends one event row (failed steps in red), newest at the bottom."""
        table = self.query_one("#pipe-events", DataTable)
        status = f"[red]{event.status}[/]" if event.failed else event.status
        name = "/".join(event.path.rsplit("/", 2)[-2:]) if event.export else ""
        self.seen += 1
        table.add_row(
            event.time[11:19],
            name,
            event.step,
            event.target,
            status,
            event.message,
            key=f"e{self.seen}",
        )
        while table.row_count > MAX_ROWS:
            table.remove_row(next(iter(table.rows)))
        table.move_cursor(row=table.row_count - 1)

    def show_chains(self, chains: list[ChainRow]) -> None:
        """Fills the chains table from the log."""

        def short(digest: str | None) -> str:
            return digest.split(":", 1)[-1][:12] if digest else "-"

        rows = [
            (
                f"c{i}",
                [c.name, short(c.image_digest), short(c.saved_model_sha256), c.mode,
                 short(c.variant_sha256), c.device or "-", c.status],
            )
            for i, c in enumerate(chains)
        ]  # fmt: skip
        fill(self.query_one("#pipe-chains", DataTable), rows)
