"""The demo's result in the UI: where it trained, the table (mode, size, accuracy, p50, p99,
min runtime), each stage's time; the same document `tfstudio demo` prints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Label, Static

from tfstudio.formatting import percent
from tfstudio.tui.widgets.chrome import KeyFooter
from tfstudio.tui.widgets.hints import ui_hint
from tfstudio.workflows.demo.report import COLUMNS

HEADERS = ("mode", "size", "acc", "p50 ms", "p99 ms", "min rt", "result")
"""COLUMNS, in a few letters, so that the table fits 80 columns."""
assert len(HEADERS) == len(COLUMNS)  # noqa: S101 - a mistake here is a bug at import

if TYPE_CHECKING:
    from tfstudio.workflows.demo.report import DemoReport


class DemoResultModal(ModalScreen[None]):
    """The demo's table; closed with Enter or Escape."""

    BINDINGS = [Binding("escape,enter", "close", "Close")]
    AUTO_FOCUS = "#demo-result"
    """The report itself (arrows and page keys scroll it at 80x24; Enter closes); not
    the table, whose focus would scroll the report past its title."""

    def __init__(self, report: DemoReport) -> None:
        super().__init__()
        self.report = report

    def compose(self) -> ComposeResult:
        report = self.report
        with VerticalScroll(classes="dialog", id="demo-result"):
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
            failed = [
                f"{r.mode}: {r.failed_step} failed: {r.error}"
                + (f"\n  fix: {ui_hint(r.hint)}" if r.hint else "")
                for r in report.rows
                if not r.ok
            ]
            if failed:
                yield Static("\n".join(failed), classes="dialog-hint", id="demo-failed")
            yield Static(
                "Next: 3 shows the variants, 4 deploys one, 6 adds your own device.",
                classes="dialog-body",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close (esc)", id="close", compact=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#demo-table", DataTable)
        table.add_columns(*HEADERS)
        for row in self.report.rows:
            cells = row.cells()
            if not row.ok:
                cells[-1] = f"{row.failed_step} failed"  # the error is below the table
            table.add_row(*cells, key=row.mode)
        # Wider than a form dialog, and every row in view: the header, the rows, the
        # border. At 80x24 the whole report scrolls under the Close button.
        dialog = self.query_one("#demo-result")
        dialog.styles.width = 100
        table.styles.height = table.row_count + 3
        table.styles.margin = (0, 0, 1, 0)

    def on_button_pressed(self, _event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        """Closes the dialog."""
        self.dismiss(None)
