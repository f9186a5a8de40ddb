"""Per-target progress rows: name, a bar, and the stage or transfer text.

Fed with the core's operation events: a StageStarted names the stage, a
TransferTick moves the bar and shows bytes and rate, a TargetFinished fills
the bar and shows the one-line outcome; a target that failed or was cancelled
keeps its bar where it stopped (a full bar would claim a finished transfer) and
its text is red. `abandon` marks the rows an operation never finished.
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
        self.finished: set[str] = set()
        """The targets whose TargetFinished arrived."""

    def reset(self, targets: Sequence[str]) -> None:
        """Shows one queued row per target (removing the last operation's)."""
        self.remove_children()
        self.rows = {t: TargetRow(t) for t in targets}
        self.texts = {t: "queued" for t in targets}
        self.finished = set()
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
            self.finished.add(event.target)
            if event.ok:
                row.bar.update(total=1, progress=1)
            row.set_class(not event.ok, "-failed")
            text = event.message.removeprefix(f"{event.target}: ") or (
                "ok" if event.ok else "failed"
            )
        self.texts[event.target] = text
        row.status.update(text)

    def abandon(self, why: str) -> None:
        """Marks every row not finished yet as failed with `why` (the operation ended
        without them: an error before they started, say)."""
        for target, row in self.rows.items():
            if self.texts.get(target) == "queued" or target not in self.finished:
                row.add_class("-failed")
                if row.is_mounted and row.children:
                    row.status.update(why)
                self.texts[target] = why
