"""What every screen shares: the studio, the running operation's cancel token,
the one place a worker's failure becomes a message to the user, and the keyboard
rules every view keeps.

The keyboard rules (no key traps):
- a view never opens, nor comes back, with the focus in a text field: it focuses
  its main table (`AUTO_FOCUS`), so `1`-`7`, `?` and `q` work at once;
- Escape in a text field leaves it (to that table); with no field focused it
  cancels the running operation; the footer shows which it will do;
- Enter in a form's field submits the form (`SUBMIT`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, cast

from textual.app import ScreenStackError
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input
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

    def report_failure(
        self, error: BaseException, retry: Callable[[], object] | None, what: str | None = None
    ) -> None: ...


def is_text_field(widget: Widget | None) -> bool:
    """True for a widget that takes typed text (its printable keys are not commands)."""
    return isinstance(widget, Input)


class StudioScreen(Screen[None]):
    """A screen of the app: owns its workers and at most one cancellable operation."""

    VIEW: ClassVar[str] = "dashboard"
    """The view's name (`tfstudio.tui.views.VIEWS`): the view bar marks it."""
    AUTO_FOCUS = "DataTable"
    """What a view focuses when it opens, and what Escape in a field goes back to:
    its first table, never a text field."""
    SUBMIT: ClassVar[str | None] = None
    """The action Enter in a form field runs (None: the view has no form)."""
    OPERATIONS: ClassVar[frozenset[str]] = frozenset()
    """The worker groups that are operations (cancellable, worth a question before
    quitting), as opposed to reads."""
    BINDINGS = [
        # One key, the first enabled of these (check_action): the footer says which.
        Binding("escape", "leave_field", "Leave field"),
        Binding("escape", "cancel_operation", "Cancel"),
    ]

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
        if is_text_field(self.focused):
            # Back in a view whose field had the focus: the view keys work first.
            self.focus_home()

    def focus_home(self) -> None:
        """Focuses the view's main table (`AUTO_FOCUS`); nothing when it has none."""
        found = self.query(self.AUTO_FOCUS or "DataTable")
        target = next((w for w in found if w.focusable), None)
        self.set_focus(target)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Escape leaves a text field when one has the focus, else cancels the running
        operation when one runs (each shown in the footer only when it applies)."""
        if action == "leave_field":
            return is_text_field(self.focused)
        if action == "cancel_operation":
            running = self.token is not None and not self.token.cancelled
            return running and bool(self.running_operations())
        return True

    def action_leave_field(self) -> None:
        """Escape in a text field: the focus goes back to the view's table."""
        self.focus_home()

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()  # the footer says what Escape does from here

    def on_descendant_blur(self) -> None:
        self.refresh_bindings()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in a field of the view's form runs the form's action."""
        if self.SUBMIT is not None and any(a.has_class("form") for a in event.input.ancestors):
            event.stop()
            getattr(self, f"action_{self.SUBMIT}")()

    def poll(self, seconds: float, group: str, read: Callable[[], object]) -> None:
        """Calls `read` every `seconds` while this screen is the one shown (not left,
        not under a dialog) and no worker of its `group` still runs."""

        def tick() -> None:
            reading = any(
                w.node is self and w.group == group and w.is_running for w in self.workers
            )
            if self.is_top and not reading:
                read()

        self.set_interval(seconds, tick)

    @property
    def is_top(self) -> bool:
        """True while this screen is the one on top (not left, not under a dialog); False
        once the app is closing and no screen is left."""
        try:
            return self.app.screen is self
        except ScreenStackError:
            return False

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

    def running_operations(self) -> list[Worker[Any]]:
        """This screen's operation workers (`OPERATIONS`) still running."""
        return [
            w
            for w in self.workers
            if w.node is self and w.is_running and w.group in self.OPERATIONS
        ]

    def cancel_operations(self) -> None:
        """Asks every running operation of this screen to stop (quitting, for one)."""
        if self.token is not None:
            self.token.cancel()

    def action_cancel_operation(self) -> None:
        """Escape: asks the running operation to stop at its next safe point."""
        if self.token is not None and self.busy and not self.token.cancelled:
            self.token.cancel()
            self.notify("cancelling...", title="cancel", timeout=3)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one handler that turns a failed worker into a message (never a crash)."""
        self.refresh_bindings()  # an operation started or ended: what Escape does changed
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.studio_app.report_failure(
                event.worker.error, self._retry, event.worker.description
            )
        if event.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            if event.worker.group in self.OPERATIONS and event.worker.error is not None:
                self._abandon_progress(event.worker.error)
            self.operation_ended(event.worker)
            if event.state is WorkerState.SUCCESS:
                self.ask_missing_passphrases()

    def _abandon_progress(self, error: BaseException) -> None:
        """An operation that failed or was cancelled leaves no row looking queued."""
        from tfstudio.errors import CancelledError
        from tfstudio.tui.widgets.progress import TargetProgress

        why = "cancelled" if isinstance(error, CancelledError) else "not done: the operation failed"
        for progress in self.query(TargetProgress):
            progress.abandon(why)

    def operation_ended(self, worker: Worker[object]) -> None:
        """Hook: a worker of this screen ended (re-enable buttons and so on)."""

    def ask_missing_passphrases(self) -> None:
        """After a fan-out: asks for any key passphrase a device needed, then retries."""
        missing = self.studio.connector.missing_passphrases()
        if missing:
            from tfstudio.studio.types import PassphraseRequired

            self.studio_app.report_failure(PassphraseRequired("a device", missing[0]), self._retry)
