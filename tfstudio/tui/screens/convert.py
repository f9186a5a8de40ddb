"""The convert view: a source, modes, data; per-mode progress; the results table.

A row of the results opens the model's inspection (ops with versions,
tensors and quantization parameters) in the side panel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.widgets import Button, DataTable, Input, Label, Static

from tfstudio.formatting import human_bytes, percent, ratio
from tfstudio.studio.types import ModelEntry
from tfstudio.tui.messages import Converted, ConvertRequest, ConvertRequested, Progress
from tfstudio.tui.screens.base import StudioScreen
from tfstudio.tui.widgets.chrome import KeyFooter, ViewBar
from tfstudio.tui.widgets.paths import PathSuggester
from tfstudio.tui.widgets.progress import TargetProgress
from tfstudio.tui.widgets.tables import fill, selected_key
from tfstudio.tui.widgets.ticks import TickBox

MODES = ("float32", "dynamic", "float16", "int8", "int16x8")
"""The quantization modes, in the order the presets file lists them."""
NEEDS_REP = ("int8", "int16x8")


class ConvertScreen(StudioScreen):
    """Convert a SavedModel/.keras/.h5 into TFLite variants and compare them."""

    VIEW = "convert"
    SUBMIT = "convert"
    OPERATIONS = frozenset({"convert"})

    BINDINGS = [
        Binding("ctrl+r", "convert", "Convert"),
        Binding("i", "inspect", "Inspect", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[str, ModelEntry] = {}
        self.failures: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield ViewBar(self.VIEW)
        with Horizontal(id="convert-body"):
            with VerticalScroll(id="convert-form", classes="form", can_focus=False):
                yield Label("Source model")
                yield Input(
                    id="source",
                    suggester=PathSuggester(),
                    placeholder="SavedModel dir, .keras, .h5",
                    compact=True,
                )
                yield Label("Output folder")
                yield Input(
                    id="outdir", suggester=PathSuggester(), placeholder="HOME/models/NAME",
                    compact=True,
                )  # fmt: skip
                yield Label("Modes")
                for mode in MODES:
                    yield TickBox(mode, value=mode == "float32", id=f"mode-{mode}")
                yield Label("Rep. data (int8, int16x8)")
                yield Input(
                    id="rep", suggester=PathSuggester(), placeholder=".npy/.npz/images",
                    compact=True,
                )  # fmt: skip
                yield Label("Eval data")
                yield Input(
                    id="eval", suggester=PathSuggester(), placeholder=".npz with x, y (optional)",
                    compact=True,
                )  # fmt: skip
                yield Button(
                    "Convert (ctrl+r)", variant="primary", id="convert", classes="run-button"
                )
            with Vertical(id="convert-main"):
                yield Static(
                    "Pick a model and modes, then ctrl+r.", id="convert-status", classes="op-status"
                )
                yield TargetProgress(id="convert-progress")
                yield DataTable(id="results", cursor_type="row", zebra_stripes=True)
                yield Static("", id="inspect")
        yield KeyFooter()

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#results", DataTable)
        table.border_title = "Results"
        table.add_columns("mode", "size", "ratio", "min rt", "score", "sec")
        if self.studio_app.last_conversion:
            self.show_results(self.studio_app.last_conversion, "the last conversion")
        else:
            self.read_latest()

    @work(thread=True, exclusive=True, exit_on_error=False, group="read", description="read")
    def read_latest(self) -> None:
        """Shows the newest conversion in the catalogue (a restart shows the same results)."""
        models = self.studio.models()
        if not models:
            return
        newest = max(models, key=lambda m: m.created_at or "").path.parent
        entries = [m for m in models if m.path.parent == newest]
        self.app.call_from_thread(self.show_results, entries, str(newest))

    def request(self) -> ConvertRequest:
        """Returns what the form asks for."""
        modes = [m for m in MODES if self.query_one(f"#mode-{m}", TickBox).value]

        def text(widget_id: str) -> str | None:
            return self.query_one(f"#{widget_id}", Input).value.strip() or None

        return ConvertRequest(
            text("source") or "", text("outdir"), modes, text("rep"), text("eval")
        )

    @on(Button.Pressed, "#convert")
    def action_convert(self) -> None:
        """Posts ConvertRequested for the form (checked first)."""
        request = self.request()
        if not request.source:
            self.notify("give the model to convert", severity="warning")
            self.query_one("#source", Input).focus()
            return
        if not request.modes:
            self.notify("choose at least one mode", severity="warning")
            return
        if set(request.modes) & set(NEEDS_REP) and not request.rep_data:
            self.notify("int8 and int16x8 need representative data", severity="warning")
            self.query_one("#rep", Input).focus()
            return
        self.post_message(ConvertRequested(request))

    def on_convert_requested(self, message: ConvertRequested) -> None:
        request = message.request
        token = self.start(
            lambda: self.post_message(ConvertRequested(request)),
            f"converting {request.source}...",
            request.modes,
        )
        self.run_convert(request, token)

    @work(thread=True, exclusive=True, exit_on_error=False, group="convert", description="convert")
    def run_convert(self, request: ConvertRequest, token: Any) -> None:
        """Runs the conversion in this thread, posting its events and result."""
        from tfstudio.studio.types import ModesFailedError, read_entry

        options = {"fixed_batch": request.fixed_batch} if request.fixed_batch else {}
        try:
            result = self.studio.convert(
                request.source,
                request.outdir,
                request.modes,
                rep_data=request.rep_data,
                eval_data=request.eval_data,
                on_event=lambda e: self.post_message(Progress(e)),
                cancel=token,
                **options,
            )
        except ModesFailedError as exc:
            # Some modes were written: they are results too, shown beside the failures.
            result = exc.result
        entries = [e for v in result.variants if (e := read_entry(v.path))]
        self.post_message(Converted(result, entries))

    def on_progress(self, message: Progress) -> None:
        self.query_one(TargetProgress).apply(message.event)

    def on_converted(self, message: Converted) -> None:
        failures = {f.mode: f.error.message for f in message.result.failures}
        self.show_results(message.entries, str(message.result.outdir), failures)
        if failures:
            self.notify(
                f"{len(failures)} of {len(failures) + len(message.entries)} modes failed; "
                "select a failed row for its error",
                severity="error",
            )

    def show_results(
        self, entries: list[ModelEntry], where: str, failures: dict[str, str] | None = None
    ) -> None:
        """Fills the results table with `entries` (one conversion's variants) and a
        `failed` row per mode in `failures` (mode: its one-line error)."""
        self.failures = dict(failures or {})
        entries = sorted(entries, key=lambda e: _order(e.mode))
        self.entries = {e.mode: e for e in entries}
        base = self.entries.get("float32")
        rows: list[tuple[str, list[Any]]] = [
            (
                e.mode,
                [e.mode, human_bytes(e.size_bytes),
                 ratio(e.size_bytes / base.size_bytes if base else None),
                 e.min_runtime_version or "-", percent(e.score),
                 f"{e.convert_seconds:.1f}" if e.convert_seconds is not None else "-"],
            )
            for e in entries
        ]  # fmt: skip
        failed = Text("failed", style="bold red")  # a cell is a rich renderable, not content
        rows += [(mode, [mode, failed, "-", "-", "-", "-"]) for mode in self.failures]
        rows.sort(key=lambda row: _order(row[0]))
        fill(self.query_one("#results", DataTable), rows)
        status = f"{len(entries)} variants in {where}"
        if self.failures:
            status += f"; [$error]{len(self.failures)} failed:[/] {', '.join(self.failures)}"
        self.query_one("#convert-status", Static).update(status)

    def operation_ended(self, worker: Any) -> None:
        if worker.group == "convert":
            self.query_one("#convert", Button).disabled = False
            if worker.error is not None:
                self.query_one("#convert-status", Static).update(
                    f"[$error]failed:[/] {getattr(worker.error, 'message', worker.error)}"
                )

    @on(DataTable.RowHighlighted, "#results")
    def action_inspect(self) -> None:
        """Shows the selected variant's ops, tensors and quantization."""
        key = selected_key(self.query_one("#results", DataTable))
        entry = self.entries.get(key or "")
        if entry is not None:
            self.query_one("#inspect", Static).update(_inspection(entry.path))
        elif key in self.failures:
            error = escape(self.failures[key])
            self.query_one("#inspect", Static).update(f"[b]{key}[/b] [$error]failed[/]\n{error}")


def _order(mode: str) -> int:
    return MODES.index(mode) if mode in MODES else 99


def _inspection(path: Path) -> str:
    from tfstudio.errors import TfStudioError
    from tfstudio.studio.types import facts_to_json, inspect_model

    try:
        info = facts_to_json(inspect_model(path), path)
    except TfStudioError as exc:
        return f"[$error]{exc.message}[/]"
    ops = ", ".join(f"{o['name']} v{o['version']}" for o in info["ops"])
    lines = [f"[b]{path.name}[/b]  sha256 {info['sha256'][:12]}", f"ops: {ops}"]
    for kind in ("inputs", "outputs"):
        for t in info[kind]:
            quant = t["quantization"]
            q = ""
            if quant:
                q = f" scale {quant['scale'][0]:.4g} zero {quant['zero_point'][0]}"
            lines.append(f"{kind[:-1]} {t['name']} {t['shape']} {t['dtype']}{q}")
    return "\n".join(lines)
