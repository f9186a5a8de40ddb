"""The jobs view: training containers (they arrive with the training feature).

Today it shows the Docker Engine's state with its fix, and says that the
training engine is not available yet.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from tfstudio.tui.messages import WorldRead
from tfstudio.tui.screens.base import StudioScreen
from tfstudio.tui.widgets.tables import fill


class JobsScreen(StudioScreen):
    """Training jobs and the engines they run on."""

    BINDINGS = [Binding("r", "refresh", "Refresh")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="engines", cursor_type="row")
        yield Static("", id="jobs-note")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#engines", DataTable)
        table.border_title = "Engines"
        table.add_columns("engine", "state", "detail", "fix")

    def refresh_view(self) -> None:
        """Re-reads the engines' state (also `r`)."""
        self.read_engines()

    action_refresh = refresh_view

    @work(thread=True, exclusive=True, exit_on_error=False, group="read", description="engines")
    def read_engines(self) -> None:
        """Pings the engine (never on the UI thread)."""
        self.post_message(WorldRead(self.studio.readiness(), [], []))

    def on_world_read(self, message: WorldRead) -> None:
        rows = [
            (p.part, [p.part, p.state, p.detail, p.fix or ""])
            for p in message.parts
            if p.part in ("training", "docker engine")
        ]
        fill(self.query_one("#engines", DataTable), rows)
        self.query_one("#jobs-note", Static).update(
            "training engine: not available yet. Jobs (launch, logs, stop, GPU check) "
            "will list here."
        )
