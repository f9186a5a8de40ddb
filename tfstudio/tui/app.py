"""`StudioApp` and `make_app(studio)`: the one factory the entry point and tests use.

The app only switches between screens (each created on first visit, so the
first frame stays light, and kept afterwards), turns failures into messages and
offers every action in the command palette.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from tfstudio.tui.screens.dashboard import DashboardScreen

if TYPE_CHECKING:
    from tfstudio.studio import Studio
    from tfstudio.studio.types import ModelEntry
    from tfstudio.workflows.pipeline.control import Pipeline


def _lazy(module: str, name: str) -> Callable[[], Screen[Any]]:
    def build() -> Screen[Any]:
        import importlib

        return getattr(importlib.import_module(f"tfstudio.tui.screens.{module}"), name)()

    return build


VIEWS = {
    "dashboard": ("1", "Dashboard", "jobs, models and devices at a glance"),
    "jobs": ("2", "Jobs", "training containers and engines"),
    "convert": ("3", "Convert", "SavedModel/Keras to TFLite in every mode"),
    "deploy": ("4", "Deploy", "push a model to devices, with a health gate"),
    "bench": ("5", "Bench", "latency on devices, history and export"),
    "devices": ("6", "Devices", "add, trust, install the agent, check"),
    "pipeline": ("7", "Pipeline", "watch a folder: new SavedModels to devices, hands-free"),
}
"""Mode name: (key, title, what it is for)."""


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
    ]

    def __init__(self, studio: Studio) -> None:
        super().__init__()
        self.studio = studio
        self.last_conversion: list[ModelEntry] | None = None
        self.current = "dashboard"
        self._pipeline: Pipeline | None = None

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

    def on_mount(self) -> None:
        self.sub_title = VIEWS["dashboard"][1]

    def action_go(self, name: str) -> None:
        """Shows the view `name`: the dashboard stays at the bottom of the stack, and
        at most one other view (kept alive between visits) sits on it."""
        while len(self.screen_stack) > 1:
            self.pop_screen()
        if name != "dashboard":
            self.push_screen(name)
        self.current = name
        self.sub_title = VIEWS[name][1]

    def action_help(self) -> None:
        """Shows every key."""
        from tfstudio.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def show_conversion(self, result: Any, entries: list[ModelEntry]) -> None:
        """Makes `entries` the convert view's results (the demo's, for instance)."""
        self.last_conversion = entries
        screen = self._installed_screens.get("convert")
        if isinstance(screen, Screen) and screen.is_mounted and hasattr(screen, "show_results"):
            screen.show_results(entries, str(result.outdir))

    def report_failure(self, error: BaseException, retry: Callable[[], object] | None) -> None:
        """Turns a worker's failure into a notification or a dialog; never re-raises.

        A key that needs a passphrase opens the passphrase dialog and retries;
        a user-facing error is one notification with its fix; anything else
        (a bug) opens the error dialog with its type.
        """
        from tfstudio.errors import CancelledError, TfStudioError
        from tfstudio.studio.types import PassphraseRequired

        if isinstance(error, CancelledError):
            self.notify(error.message, title="cancelled", severity="warning")
        elif isinstance(error, PassphraseRequired):
            from tfstudio.tui.modals.passphrase import PassphraseModal

            def answered(secret: str | None) -> None:
                if secret is not None:
                    self.studio.connector.remember(error.key_path, secret)
                    if retry is not None:
                        retry()

            self.push_screen(PassphraseModal(error.key_path, error.wrong), answered)
        elif isinstance(error, TfStudioError):
            text = error.message + (f"\nfix: {error.hint}" if error.hint else "")
            self.notify(text, title=type(error).__name__, severity="error", timeout=10)
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
            ("Remove a job", "its container; provenance stays", "jobs", "remove"),
            ("GPU check", "TensorFlow's view of the GPUs in an image", "jobs", "gpu_check"),
            ("Pick an engine", "local or remote Docker Engines", "jobs", "engine"),
            ("Trust an engine's host key", "ssh:// engines: fingerprint, confirm", "jobs", "trust"),
            ("Convert", "convert the model in the form", "convert", "convert"),
            ("Deploy", "deploy the chosen model", "deploy", "deploy"),
            ("Roll back a device", "re-activate its previous model", "deploy", "rollback"),
            ("Bench", "measure latency on the chosen devices", "bench", "bench"),
            ("Export bench results", "JSON and CSV in HOME/exports", "bench", "export"),
            ("Add a device", "register a device reached over SSH", "devices", "add"),
            ("Remove a device", "forget the selected device", "devices", "remove"),
            ("Trust a host key", "show the fingerprint, record on confirm", "devices", "trust"),
            ("Install the agent", "push or upgrade the edge agent", "devices", "install"),
            ("Check a device", "reachability, agent, runtime", "devices", "check"),
            ("Models on a device", "what the device stores", "devices", "models"),
            ("Start/stop the pipeline", "watch a folder, convert, deploy", "pipeline", "switch"),
            ("Cancel", "stop the running operation", "", "cancel_operation"),
        ]
        for title, text, mode, action in actions:
            yield SystemCommand(title, text, lambda m=mode, a=action: self._run_on(m, a))
        yield SystemCommand("Help", "every key", self.action_help)
        yield from super().get_system_commands(screen)

    def _run_on(self, mode: str, action: str) -> None:
        if mode:
            self.action_go(mode)
        self.call_after_refresh(self.screen.run_action, action)


def make_app(studio: Studio) -> StudioApp:
    """Returns the app on `studio` (the CLI, the tests and the snapshot app use this)."""
    return StudioApp(studio)
