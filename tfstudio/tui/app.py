"""`StudioApp` and `make_app(studio)`: the one factory the entry point and tests use.

The app only switches between screens (each created on first visit, so the
first frame stays light, and kept afterwards), turns failures into messages and
offers every action in the command palette.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from tfstudio.tui.screens.base import StudioScreen
from tfstudio.tui.screens.dashboard import DashboardScreen
from tfstudio.tui.views import VIEWS

if TYPE_CHECKING:
    from tfstudio.studio import Studio
    from tfstudio.studio.types import ModelEntry
    from tfstudio.workflows.pipeline.control import Pipeline


def _lazy(module: str, name: str) -> Callable[[], Screen[Any]]:
    def build() -> Screen[Any]:
        import importlib

        return getattr(importlib.import_module(f"tfstudio.tui.screens.{module}"), name)()

    return build


class StudioApp(App[int]):
    """The tfstudio terminal UI."""

    CSS_PATH = "app.tcss"
    TITLE = "tfstudio"
    # Screens other than the dashboard are built on first visit and then kept
    # (installed), so each keeps its state; plain screens rather than Textual
    # modes, because starting in a mode restyles the whole app once more before
    # the first frame.
    SCREENS = {
        "jobs": _lazy("jobs", "JobsScreen"),
        "convert": _lazy("convert", "ConvertScreen"),
        "deploy": _lazy("deploy", "DeployScreen"),
        "bench": _lazy("bench", "BenchScreen"),
        "devices": _lazy("devices", "DevicesScreen"),
        "pipeline": _lazy("pipeline", "PipelineScreen"),
    }
    BINDINGS = [
        *(
            Binding(key, f"go('{mode}')", title, show=False)
            for mode, (key, title, _) in VIEWS.items()
        ),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        # Priority: the focus moves before the next key is handed out. Otherwise keys
        # typed right after Tab (fast, or pasted) go to the field being left, since a
        # screen's Tab is handled only once the focused widget has passed it up.
        Binding("tab", "focus_next", "Next field", show=False, priority=True),
        Binding("shift+tab", "focus_previous", "Previous field", show=False, priority=True),
    ]

    def __init__(self, studio: Studio) -> None:
        super().__init__()
        self.studio = studio
        self.last_conversion: list[ModelEntry] | None = None
        self.current = "dashboard"
        self._pipeline: Pipeline | None = None
        saved = _settings(studio).get("theme")
        if isinstance(saved, str) and saved in self.available_themes:
            self.theme = saved

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._save_theme)

    def _save_theme(self, theme: Any) -> None:
        """The theme picked in the palette is the one the next start uses."""
        import contextlib
        import json

        from tfstudio.atomic import write_text_atomic
        from tfstudio.errors import TfStudioError

        settings = {**_settings(self.studio), "theme": theme.name}
        with contextlib.suppress(OSError, TfStudioError):  # a preference, never a failure
            write_text_atomic(ui_settings_path(self.studio), json.dumps(settings, indent=2) + "\n")

    @property
    def pipeline(self) -> Pipeline:
        """The watch pipeline the Pipeline view switches on and off (made on first use)."""
        if self._pipeline is None:
            from tfstudio.workflows.pipeline.control import Pipeline

            self._pipeline = Pipeline(self.studio)
        return self._pipeline

    def on_unmount(self) -> None:
        # A running watcher stops, and engine connections kept between calls close, with the app.
        if self._pipeline is not None:
            self._pipeline.stop()
        self.studio.close()

    def get_default_screen(self) -> Screen[Any]:
        """The dashboard: the bottom of the stack, drawn in the first frame."""
        return DashboardScreen()

    def action_go(self, name: str) -> None:
        """Shows the view `name`: the dashboard stays at the bottom of the stack, and
        at most one other view (kept alive between visits) sits on it. The view
        already shown stays as it is."""
        top = self.screen
        if isinstance(top, StudioScreen) and top.VIEW == name:
            return
        while len(self.screen_stack) > 1:
            self.pop_screen()
        if name != "dashboard":
            self.push_screen(name)
        self.current = name

    def action_help(self) -> None:
        """Shows every key."""
        from tfstudio.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def studio_screens(self) -> list[StudioScreen]:
        """The dashboard and every view built so far."""
        screens = [self.screen_stack[0], *self._installed_screens.values()]
        return [s for s in screens if isinstance(s, StudioScreen)]

    def running_operations(self) -> list[str]:
        """What runs now, in words ("convert (3 Convert)", "the pipeline (7 Pipeline)")."""
        running = [
            f"{worker.description} ({VIEWS[screen.VIEW][0]} {VIEWS[screen.VIEW][1]})"
            for screen in self.studio_screens()
            for worker in screen.running_operations()
        ]
        if self._pipeline is not None and self._pipeline.running:
            running.append("the pipeline (7 Pipeline)")
        return running

    async def action_quit(self) -> None:
        """q: quits at once when nothing runs; else asks, then cancels what runs and
        shows each operation stop before the app ends."""
        from tfstudio.tui.modals.quitting import QuitModal

        if isinstance(self.screen, QuitModal):
            self.screen.action_answer(True)  # asked twice: yes
            return
        if not self.running_operations():
            self.exit()
            return
        self.push_screen(QuitModal())

    def cancel_everything(self) -> None:
        """Asks every running operation to stop, and the pipeline too (in a thread: its
        stop waits for the step in progress)."""
        import threading

        for screen in self.studio_screens():
            screen.cancel_operations()
        pipeline = self._pipeline
        if pipeline is not None and pipeline.running:
            threading.Thread(target=pipeline.stop, name="pipeline-stop", daemon=True).start()

    def show_conversion(self, result: Any, entries: list[ModelEntry]) -> None:
        """Makes `entries` the convert view's results (the demo's, for instance)."""
        self.last_conversion = entries
        screen = self._installed_screens.get("convert")
        if isinstance(screen, Screen) and screen.is_mounted and hasattr(screen, "show_results"):
            screen.show_results(entries, str(result.outdir))

    def report_failure(
        self, error: BaseException, retry: Callable[[], object] | None, what: str | None = None
    ) -> None:
        """Turns a worker's failure into a notification or a dialog; never re-raises.

        A key that needs a passphrase opens the passphrase dialog and retries;
        a user-facing error is one notification titled with what failed (`what`,
        the worker's description) and its fix, said the UI's way; anything else
        (a bug) opens the error dialog with its type.
        """
        from tfstudio.errors import CancelledError, TfStudioError
        from tfstudio.studio.types import PassphraseRequired

        if isinstance(error, CancelledError):
            self.notify(error.message, title=f"{what or 'operation'} cancelled", severity="warning")
        elif isinstance(error, PassphraseRequired):
            from tfstudio.tui.modals.passphrase import PassphraseModal

            if any(
                isinstance(s, PassphraseModal) and s.key_path == error.key_path
                for s in self.screen_stack
            ):
                return  # already asked: one dialog per key, its answer serves both

            def answered(secret: str | None) -> None:
                if secret is not None:
                    self.studio.connector.remember(error.key_path, secret)
                    if retry is not None:
                        retry()

            self.push_screen(PassphraseModal(error.key_path, error.wrong), answered)
        elif isinstance(error, TfStudioError):
            from tfstudio.tui.widgets.hints import ui_hint

            text = error.message + (f"\nfix: {ui_hint(error.hint)}" if error.hint else "")
            self.notify(text, title=f"{what or 'operation'} failed", severity="error", timeout=10)
        else:
            from tfstudio.tui.modals.error import ErrorModal

            self.push_screen(
                ErrorModal("Unexpected error", f"{type(error).__name__}: {error}", None)
            )

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every action by name, for the command palette (ctrl+p)."""
        for mode, (key, title, text) in VIEWS.items():
            yield SystemCommand(f"Go to {title} ({key})", text, lambda m=mode: self.action_go(m))
        actions = [
            ("Run the demo", "the digits CNN from training to latency", "dashboard", "demo"),
            ("New training job", "a pinned image, command, GPUs, limits", "jobs", "new_job"),
            ("Stop a job", "SIGTERM, then SIGKILL (asks first)", "jobs", "stop"),
            ("Kill a job", "SIGKILL now (asks first)", "jobs", "kill"),
            ("Remove a job", "its container; its record stays (x)", "jobs", "remove"),
            ("GPU check", "TensorFlow's view of the GPUs in an image", "jobs", "gpu_check"),
            ("Pick an engine", "local or remote Docker Engines (e)", "jobs", "engine"),
            (
                "Add an engine",
                "a Docker Engine over ssh://, tcp:// or unix://",
                "jobs",
                "add_engine",
            ),
            ("Trust an engine's host key", "ssh:// engines: fingerprint, confirm", "jobs", "trust"),
            ("Convert", "convert the model in the form", "convert", "convert"),
            ("Inspect a variant", "ops, tensors, quantization (i)", "convert", "inspect"),
            ("Deploy", "deploy the chosen model", "deploy", "deploy"),
            ("Roll back a device", "re-activate its previous model", "deploy", "rollback"),
            ("Bench", "measure latency on the chosen devices", "bench", "bench"),
            ("Export bench results", "JSON and CSV in HOME/exports", "bench", "export"),
            ("Bench matrix", "variants x devices, measured or not (x)", "bench", "matrix"),
            ("Add a device", "register a device reached over SSH (a)", "devices", "add"),
            ("Edit a device", "change its host, user, key, python (e)", "devices", "edit"),
            ("Remove a device", "forget the selected device (x)", "devices", "remove"),
            ("Trust a host key", "show the fingerprint, record on confirm", "devices", "trust"),
            (
                "Install the agent",
                "push or upgrade it; choose the runtime (i)",
                "devices",
                "install",
            ),
            (
                "Serve the agent",
                "run its server on the device as a service (s)",
                "devices",
                "serve",
            ),
            ("Live metrics", "follow the device's requests and latency (l)", "devices", "live"),
            ("Check a device", "reachability, agent, runtime", "devices", "check"),
            ("Models on a device", "what the device stores", "devices", "models"),
            ("Start/stop the pipeline", "watch a folder, convert, deploy", "pipeline", "switch"),
            ("Cancel", "stop the running operation (esc)", "", "cancel_operation"),
        ]
        for title, text, mode, action in actions:
            yield SystemCommand(title, text, lambda m=mode, a=action: self._run_on(m, a))
        yield SystemCommand("Help", "every key (?)", self.action_help)
        yield from super().get_system_commands(screen)

    def _run_on(self, mode: str, action: str) -> None:
        if mode:
            self.action_go(mode)
        self.call_after_refresh(self.screen.run_action, action)


def ui_settings_path(studio: Studio) -> Path:
    """Where the UI keeps its own preferences (the theme): HOME/ui.json."""
    return studio.home / "ui.json"


def _settings(studio: Studio) -> dict[str, Any]:
    import json

    try:
        found = json.loads(ui_settings_path(studio).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def make_app(studio: Studio) -> StudioApp:
    """Returns the app on `studio` (the CLI, the tests and the snapshot app use this)."""
    return StudioApp(studio)
