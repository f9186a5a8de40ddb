"""`Pipeline`: the watch pipeline on the facade, switched on and off by a front end.

`start()` runs a `tfstudio.workflows.pipeline.watcher.Watcher` in a background thread
and reports each event to the caller's `on_event` (from that thread: a UI
hands it to its own loop) and to a short in-memory history, so a view opened
later shows what happened. `stop()` asks the watcher to stop at its next safe
point and waits for it. The pipeline's log and state live in TFSTUDIO_HOME
(`tfstudio.workflows.pipeline.journal`), so what the UI started, `tfstudio pipeline log`
reads back.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from tfstudio.errors import TfStudioError, UsageError

if TYPE_CHECKING:
    from tfstudio.studio import Studio
    from tfstudio.workflows.pipeline.events import PipelineEvent
    from tfstudio.workflows.pipeline.readback import ChainRow
    from tfstudio.workflows.pipeline.settings import PipelineSettings
    from tfstudio.workflows.pipeline.watcher import Watcher

HISTORY = 500
"""Events kept in memory for a view opened after they happened."""


class Pipeline:
    """Starts and stops one watcher for the studio; thread-safe."""

    def __init__(self, studio: Studio) -> None:
        self._studio = studio
        self._lock = threading.Lock()
        self._watcher: Watcher | None = None
        self._thread: threading.Thread | None = None
        self._history: deque[PipelineEvent] = deque(maxlen=HISTORY)
        self.error: str | None = None
        """The one-line error that ended the last watcher, if one did."""

    @property
    def running(self) -> bool:
        """True while a watcher runs."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def settings(self) -> PipelineSettings | None:
        """The running (or last) watcher's settings."""
        return self._watcher.settings if self._watcher is not None else None

    def start(
        self,
        settings: PipelineSettings,
        *,
        on_event: Callable[[PipelineEvent], None] | None = None,
    ) -> None:
        """Starts watching `settings.root` in a background thread; returns at once.

        Raises UsageError (already running, bad settings), DeviceError (an
        unknown device in `deploy_to`).
        """
        from tfstudio.workflows.pipeline.watcher import Watcher

        with self._lock:
            if self.running:
                raise UsageError("the pipeline is already running: stop it first")
            settings.check()
            devices = (
                self._studio.resolve(",".join(settings.deploy_to)) if settings.deploy_to else []
            )

            def report(event: PipelineEvent) -> None:
                self._history.append(event)
                if on_event is not None:
                    on_event(event)

            watcher = Watcher(self._studio, settings, devices, on_event=report)
            self._watcher = watcher
            self.error = None
            self._thread = threading.Thread(
                target=self._run, args=(watcher,), name="pipeline", daemon=True
            )
            self._thread.start()

    def _run(self, watcher: Watcher) -> None:
        try:
            watcher.run()
        except TfStudioError as exc:  # the log itself cannot be written: say so, stop
            self.error = exc.message
        except Exception as exc:  # noqa: BLE001 - a thread's bug becomes the pipeline's error
            self.error = f"{type(exc).__name__}: {exc}"

    def stop(self, timeout: float | None = 60.0) -> bool:
        """Stops the watcher (the step in progress is cancelled, resumed next time).

        Returns True once it has stopped (also when none ran), False on timeout.
        """
        with self._lock:
            watcher, thread = self._watcher, self._thread
        if watcher is None or thread is None:
            return True
        watcher.stop()
        thread.join(timeout)
        return not thread.is_alive()

    def recent(self) -> list[PipelineEvent]:
        """Returns the events this studio's watchers reported, oldest first."""
        return list(self._history)

    def log(self) -> list[PipelineEvent]:
        """Returns every event of the pipeline log in TFSTUDIO_HOME, oldest first."""
        from tfstudio.workflows.pipeline import journal

        return journal.read()

    def chains(self) -> list[ChainRow]:
        """Returns each export's chain per variant and device, from the log."""
        from tfstudio.workflows.pipeline import readback

        return readback.chains()
