"""The watch loop: find settled SavedModels under a folder and run each through the pipeline.

`watchdog` (when importable) wakes the loop as soon as something changes
under the folder; without it, or for a change it misses, the loop looks again
on a short period while an export is settling and on a slower one otherwise.
Exports are processed one at a time, in the loop's thread, each once per
content hash: a later change of the same folder is a new export. Every event
is appended to the pipeline log before it is reported. `stop()` (any thread,
or Ctrl-C in the CLI) ends the loop at its next safe point: conversion and
deploy are cancelled as they are for `convert` and `deploy`, and steps cut
short are resumed by the next watcher.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfstudio.errors import CancelledError, TfStudioError
from tfstudio.operations import CancelToken
from tfstudio.workflows.pipeline import journal
from tfstudio.workflows.pipeline.events import FAILED, OK, PROGRESS, STARTED, PipelineEvent
from tfstudio.workflows.pipeline.settings import PipelineSettings
from tfstudio.workflows.pipeline.settle import SettleTracker, Snapshot, find_saved_models
from tfstudio.workflows.pipeline.steps import ExportRun

if TYPE_CHECKING:
    from tfstudio.fleet.registry import Device
    from tfstudio.studio import Studio

EventCallback = Callable[[PipelineEvent], None]

IDLE_POLL_S = 2.0
"""How often the folder is looked at when nothing is settling (watchdog or not)."""


class Watcher:
    """Watches `settings.root` and runs every settled export through the pipeline.

    `run()` blocks until `stop()` (or, with `once`, until the exports present
    at the start have been handled). Events go to the log and to `on_event`.
    """

    def __init__(
        self,
        studio: Studio,
        settings: PipelineSettings,
        devices: Sequence[Device] = (),
        on_event: EventCallback | None = None,
    ) -> None:
        self.studio = studio
        self.settings = settings
        self.devices = list(devices)
        self.on_event = on_event
        self.cancel = CancelToken()
        self.wake = threading.Event()
        self.tracker = SettleTracker(settings.settle_s)
        self.handled: dict[Path, Snapshot] = {}
        self.mode = "polling"
        self.processed = 0
        self.failed = 0

    def stop(self) -> None:
        """Asks the loop (and the step in progress) to stop; returns at once."""
        self.cancel.cancel()
        self.wake.set()

    @property
    def stopping(self) -> bool:
        """True once `stop()` was called."""
        return self.cancel.is_set()

    def emit(self, event: PipelineEvent) -> None:
        """Logs `event` (not live progress), then reports it."""
        if event.step != PROGRESS:
            journal.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def run(self, *, once: bool = False) -> int:
        """Watches until stopped; returns how many exports failed a step."""
        observer = _start_observer(self.settings.root, self.wake.set)
        self.mode = "watchdog" if observer is not None else "polling"
        self.emit(
            PipelineEvent(
                "watch",
                STARTED,
                f"watching {self.settings.root} ({self.mode}, settle {self.settings.settle_s:g} s)",
                path=str(self.settings.root),
                data=self.settings.to_json() | {"devices": [d.name for d in self.devices]},
            )
        )
        deadline = time.monotonic() + self.settings.settle_s + 1.0 if once else None
        try:
            while not self.stopping:
                settling = self.tick()
                if deadline is not None and (not settling or time.monotonic() >= deadline):
                    break
                period = _poll_period(self.settings.settle_s) if settling else IDLE_POLL_S
                self.wake.wait(period)
                self.wake.clear()
        finally:
            if observer is not None:
                observer.stop()
                observer.join(timeout=5)
            left = [str(p) for p in self.tracker.pending() if p not in self.handled]
            note = f"; not settled, left alone: {', '.join(left)}" if left and once else ""
            self.emit(
                PipelineEvent(
                    "watch",
                    "stopped",
                    f"{self.processed} export(s) processed, {self.failed} with a failed step{note}",
                    path=str(self.settings.root),
                    data={"processed": self.processed, "failed": self.failed, "unsettled": left},
                )
            )
        return self.failed

    def tick(self) -> bool:
        """Looks at the folder once, runs what has settled; returns True while any is settling."""
        self.tracker.forget_missing()
        for model in find_saved_models(self.settings.root):
            if self.stopping:
                return False
            snap = self.tracker.observe(model)
            if snap is None or self.handled.get(model) == snap:
                continue
            self.handled[model] = snap
            self._process(model)
        return any(p not in self.handled for p in self.tracker.pending())

    def _process(self, model: Path) -> None:
        from tfstudio.models.source import probe_source

        try:
            sha256 = probe_source(model).sha256
        except (TfStudioError, OSError) as exc:
            self.failed += 1
            message = getattr(exc, "message", None) or str(exc)
            self.emit(PipelineEvent("export", FAILED, message, path=str(model)))
            return
        self.emit(
            PipelineEvent("settled", OK, "complete and unchanged", export=sha256, path=str(model))
        )
        run = ExportRun(
            self.studio, self.settings, model, sha256, self.devices, self.emit, self.cancel
        )
        try:
            ok = run.run()
        except CancelledError as exc:
            self.emit(
                PipelineEvent("export", "cancelled", exc.message, export=sha256, path=str(model))
            )
            return
        except Exception as exc:  # noqa: BLE001 - one export's bug must not stop the watcher
            ok = False
            self.emit(
                PipelineEvent(
                    "export",
                    FAILED,
                    f"{type(exc).__name__}: {exc}",
                    export=sha256,
                    path=str(model),
                )
            )
        self.processed += 1
        if not ok:
            self.failed += 1


def _poll_period(settle_s: float) -> float:
    return min(max(settle_s / 4, 0.05), 1.0)


def _start_observer(root: Path, wake: Callable[[], None]) -> Any:
    """Returns a started watchdog Observer that calls `wake` on any change, or None."""
    try:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
    except ImportError:
        return None

    class _Wake(FileSystemEventHandler):
        def on_any_event(self, event: Any) -> None:
            wake()

    observer = Observer()
    try:
        observer.schedule(_Wake(), str(root), recursive=True)
        observer.daemon = True
        observer.start()
    except OSError:
        return None  # inotify limits reached: polling still works
    return observer
