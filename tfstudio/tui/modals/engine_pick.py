"""Pick the engine the jobs view shows and starts jobs on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from tfstudio.tui.widgets.chrome import KeyFooter

if TYPE_CHECKING:
    from tfstudio.studio.training_types import EngineReport
    from tfstudio.studio.types import Engine


class EnginePickModal(ModalScreen["str | None"]):
    """Dismisses with an engine's name, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("a", "add", "Add an engine")]
    ADD = "__add__"
    """Dismissed with this: the user asked to add an engine."""

    def __init__(self, engines: list[Engine], report: EngineReport | None, current: str) -> None:
        super().__init__()
        self.engines = engines
        self.report = report
        self.current = current

    def compose(self) -> ComposeResult:
        options = []
        for engine in self.engines:
            state = ""
            if self.report is not None:
                status = next((s for s in self.report.statuses if s.name == engine.name), None)
                if status is not None:
                    state = (
                        f"  Docker {status.server_version}"
                        if status.reachable
                        else f"  ✗ {status.error}"
                    )
            mark = "*" if engine.name == self.current else " "
            options.append(Option(f"{mark} {engine.name}  {engine.url}{state}", id=engine.name))
        with VerticalScroll(classes="dialog", can_focus=False):
            yield Label("Engines", classes="dialog-title")
            yield OptionList(*options, id="engine-options")
            yield Static("Enter picks one; a adds an engine.", classes="dim")
        yield KeyFooter()

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        names = [engine.name for engine in self.engines]
        options.highlighted = names.index(self.current) if self.current in names else 0
        options.focus()

    def action_add(self) -> None:
        """Closes, asking for the engine form."""
        self.dismiss(self.ADD)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        """Keeps the current engine."""
        self.dismiss(None)
