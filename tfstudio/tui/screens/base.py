"""What every screen shares: the studio, the running operation's cancel token,
and the one place a worker's failure becomes a message to the user."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, cast

from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from tfstudio.operations import CancelToken

if TYPE_CHECKING:
    from tfstudio.studio import Studio
    from tfstudio.studio.types import ModelEntry
    from tfstudio.workflows.pipeline.control import Pipeline


FOOTER_WAIT_S = 0.01
FOOTER_WAIT_TRIES = 30
"""How long (30 x 10 ms at most) a screen's first reads wait for its footer's keys."""


class StudioApp(Protocol):
    """What screens use of the app (`tfstudio.tui.app.StudioApp`), named here so that the
    screens need not import the app that imports them."""

    studio: Studio
    last_conversion: list[ModelEntry] | None

    @property
    def pipeline(self) -> Pipeline: ...

    def show_conversion(self, result: Any, entries: list[ModelEntry]) -> None: ...

    def report_failure(self, error: BaseException, retry: Callable[[], object] | None) -> None: ...


class StudioScreen(Screen[None]):
    """A screen of the app: owns its workers and at most one cancellable operation."""

    BINDINGS = [Binding("escape", "cancel_operation", "Cancel", show=False)]

    def __init__(self) -> None:
        super().__init__()
        self.token: CancelToken | None = None
        self._retry: Callable[[], object] | None = None
        self._shown = False

    def refresh_view(self) -> None:
        """Hook: re-reads what the screen shows, in a worker (on mount and on return)."""

    def on_mount(self) -> None:
        # After the first usable frame: a worker's imports and reads hold the GIL, and
        # would delay the footer's keys, which Textual draws a moment after the first paint.
        self.call_after_refresh(self._read_once_usable, FOOTER_WAIT_TRIES)

    def _read_once_usable(self, tries: int) -> None:
        if tries > 0 and self.query("Footer") and not self.query("FooterKey"):
            self.set_timer(FOOTER_WAIT_S, lambda: self._read_once_usable(tries - 1))
            return
        self.refresh_view()

    def on_screen_resume(self) -> None:
        # The first resume is the screen's start (on_mount reads); later ones are returns.
        if self._shown:
            self.refresh_view()
        self._shown = True

    def poll(self, seconds: float, group: str, read: Callable[[], object]) -> None:
        """Calls `read` every `seconds` while this screen is the one shown (not left,
        not under a dialog) and no worker of its `group` still runs."""

        def tick() -> None:
            reading = any(
                w.node is self and w.group == group and w.is_running for w in self.workers
            )
            if self.app.screen is self and not reading:
                read()

        self.set_interval(seconds, tick)

    @property
    def studio_app(self) -> StudioApp:
        """The app, typed."""
        return cast("StudioApp", self.app)

    @property
    def studio(self) -> Studio:
        """The facade every operation goes through."""
        return self.studio_app.studio

    def begin(self, retry: Callable[[], object]) -> CancelToken:
        """Starts a cancellable operation: returns its fresh token; `retry` re-runs it."""
        self.token = CancelToken()
        self._retry = retry
        return self.token

    def start(self, retry: Callable[[], object], text: str, targets: list[str]) -> CancelToken:
        """Starts a form's operation: disables its button (`.run-button`), shows `text`
        in its `.op-status`, one progress row per target; returns the token."""
        from textual.widgets import Button, Static

        from tfstudio.tui.widgets.progress import TargetProgress

        token = self.begin(retry)
        self.query_one(".run-button", Button).disabled = True
        self.query_one(".op-status", Static).update(f"{text}  [dim]esc cancels[/]")
        self.query_one(TargetProgress).reset(targets)
        return token

    @property
    def busy(self) -> bool:
        """True while an operation of this screen runs (`self.workers` is the app's)."""
        return any(w.node is self and w.is_running for w in self.workers)

    def action_cancel_operation(self) -> None:
        """Escape: asks the running operation to stop at its next safe point."""
        if self.token is not None and self.busy and not self.token.cancelled:
            self.token.cancel()
            self.notify("cancelling...", title="cancel", timeout=3)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one handler that turns a failed worker into a message (never a crash)."""
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.studio_app.report_failure(event.worker.error, self._retry)
        if event.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            self.operation_ended(event.worker)
            if event.state is WorkerState.SUCCESS:
                self.ask_missing_passphrases()

    def operation_ended(self, worker: Worker[object]) -> None:
        """Hook: a worker of this screen ended (re-enable buttons and so on)."""

    def ask_missing_passphrases(self) -> None:
        """After a fan-out: asks for any key passphrase a device needed, then retries."""
        missing = self.studio.connector.missing_passphrases()
        if missing:
            from tfstudio.studio.types import PassphraseRequired

            self.studio_app.report_failure(PassphraseRequired("a device", missing[0]), self._retry)
