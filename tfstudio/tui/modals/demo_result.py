"""The demo's result in the UI: where it trained, the table (mode, size, accuracy, p50, p99,
min runtime), each stage's time; the same document `tfstudio demo` prints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Label, Static

from tfstudio.formatting import percent
from tfstudio.tui.widgets.hints import ui_hint
from tfstudio.workflows.demo.report import COLUMNS

if TYPE_CHECKING:
    from tfstudio.workflows.demo.report import DemoReport


class DemoResultModal(ModalScreen[None]):
    """The demo's table; closed with Enter or Escape."""

    BINDINGS = [Binding("escape,enter", "close", "Close")]

    def __init__(self, report: DemoReport) -> None:
        super().__init__()
        self.report = report

    def compose(self) -> ComposeResult:
        report = self.report
        with Vertical(classes="dialog", id="demo-result"):
            yield Label(
                "Demo: every variant on " + report.device + ("" if report.ok else " (some failed)"),
                classes="dialog-title",
            )
            yield Static(
                f"{report.training.line()}\nfloat accuracy {percent(report.float_accuracy)} "
                "on the held-out digits",
                classes="dialog-body",
                id="demo-training",
            )
            yield DataTable(id="demo-table", cursor_type="row", zebra_stripes=True)
            yield Static(report.stage_line(), classes="dialog-body", id="demo-stages")
            hints = [f"{r.mode}: {ui_hint(r.hint)}" for r in report.rows if not r.ok and r.hint]
            if hints:
                yield Static("\n".join(f"fix {h}" for h in hints), classes="dialog-hint")
            yield Static(
                "Next: 3 shows the variants, 4 deploys one, 6 adds your own device.",
                classes="dialog-body",
            )
            yield Button("Close", id="close")

    def on_mount(self) -> None:
        table = self.query_one("#demo-table", DataTable)
        table.add_columns(*COLUMNS)
        for row in self.report.rows:
            table.add_row(*row.cells(), key=row.mode)
        # Wider than a form dialog, and every row in view: the header, the rows, the
        # border, and a horizontal scrollbar when a failed row's message is long.
        self.query_one("#demo-result").styles.width = 100
        table.styles.height = table.row_count + (3 if self.report.ok else 4)
        table.styles.margin = (0, 0, 1, 0)
        self.query_one(Button).focus()

    def on_button_pressed(self, _event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        """Closes the dialog."""
        self.dismiss(None)
