"""Per-target progress rows: name, a bar, and the stage or transfer text.

Fed with the core's operation events: a StageStarted names the stage, a
TransferTick moves the bar and shows bytes and rate, a TargetFinished fills
the bar and shows the one-line outcome (in red when it failed).
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Label, ProgressBar

from tfstudio.formatting import human_bytes
from tfstudio.operations import Event, StageStarted, TargetFinished, TransferTick


class TargetRow(Horizontal):
    """One target's row."""

    def __init__(self, target: str) -> None:
        super().__init__(classes="target-row")
        self.target = target

    def compose(self) -> ComposeResult:
        yield Label(self.target, classes="target-name")
        yield ProgressBar(total=1, show_eta=False, show_percentage=True)
        yield Label("queued", classes="target-status")

    @property
    def bar(self) -> ProgressBar:
        """The row's bar."""
        return self.query_one(ProgressBar)

    @property
    def status(self) -> Label:
        """The row's status text."""
        return self.query_one(".target-status", Label)


class TargetProgress(VerticalScroll, can_focus=False):
    """The rows of one operation, in target order (not a tab stop: nothing to act on)."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id, classes="target-progress")
        self.rows: dict[str, TargetRow] = {}
        self.texts: dict[str, str] = {}

    def reset(self, targets: Sequence[str]) -> None:
        """Shows one queued row per target (removing the last operation's)."""
        self.remove_children()
        self.rows = {t: TargetRow(t) for t in targets}
        self.texts = {t: "queued" for t in targets}
        self.mount_all(self.rows.values())

    def _row(self, target: str) -> TargetRow:
        if target not in self.rows:
            self.rows[target] = TargetRow(target)
            self.mount(self.rows[target])
        return self.rows[target]

    def apply(self, event: Event) -> None:
        """Updates the row the event is about."""
        row = self._row(event.target)
        if not row.is_mounted or not row.children:
            self.call_after_refresh(self.apply, event)
            return
        if isinstance(event, StageStarted):
            text = f"{event.stage.value}: {event.message}" if event.message else event.stage.value
            row.remove_class("-failed")
        elif isinstance(event, TransferTick):
            row.bar.update(total=max(event.total, 1), progress=event.done)
            text = (
                f"push {human_bytes(event.done)}/{human_bytes(event.total)} "
                f"{human_bytes(event.rate_bps)}/s"
            )
        else:
            assert isinstance(event, TargetFinished)
            row.bar.update(total=1, progress=1)
            row.set_class(not event.ok, "-failed")
            text = event.message.removeprefix(f"{event.target}: ") or (
                "ok" if event.ok else "failed"
            )
        self.texts[event.target] = text
        row.status.update(text)
