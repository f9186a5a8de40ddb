"""The watch loop: find settled SavedModels under a folder and run each through the pipeline.

`watchdog` (when importable) wakes the loop as soon as something changes
under the folder; without it, or for a change it misses, the loop looks again
on a short period while an export is settling and on a slower one otherwise.
Exports are processed one at a time, in the loop's thread, each once per
content hash: a later change of the same folder is a new export. One watcher
per folder and TFSTUDIO_HOME (a lock in the pipeline folder; a second one says
who holds it), so no export is converted and deployed twice at once. Every event
is appended to the pipeline log before it is reported. `stop()` (any thread,
or Ctrl-C in the CLI) ends the loop at its next safe point: conversion and
deploy are cancelled as they are for `convert` and `deploy`, and steps cut
short are resumed by the next watcher.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfstudio.atomic import LockHeld, held_lock
from tfstudio.errors import BusyError, CancelledError, OutputError, TfStudioError
from tfstudio.operations import CancelToken
from tfstudio.workflows.pipeline import journal
from tfstudio.workflows.pipeline.events import (
    FAILED,
    OK,
    PROGRESS,
    SKIPPED,
    STARTED,
    PipelineEvent,
)
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
        self.links_seen: set[Path] = set()

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
        """Watches until stopped; returns how many exports failed a step.

        Raises BusyError when another watcher already watches this folder for this
        TFSTUDIO_HOME (both would convert, deploy and bench every export)."""
        with _watch_lock(self.settings.root):
            return self._run(once)

    def _run(self, once: bool) -> int:
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
        links: list[Path] = []
        for model in find_saved_models(self.settings.root, links):
            if self.stopping:
                return False
            snap = self.tracker.observe(model)
            if snap is None or self.handled.get(model) == snap:
                continue
            self.handled[model] = snap
            self._process(model)
        for link in links:
            if link not in self.links_seen:
                self.links_seen.add(link)
                self.emit(
                    PipelineEvent(
                        "export",
                        SKIPPED,
                        f"{link} is a symbolic link to {os.path.realpath(link)}: links to "
                        "folders are not followed; watch the folder it leads to, or copy "
                        "the export here",
                        path=str(link),
                    )
                )
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
        try:
            run = ExportRun(
                self.studio, self.settings, model, sha256, self.devices, self.emit, self.cancel
            )
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


@contextlib.contextmanager
def _watch_lock(root: Path) -> Iterator[None]:
    """Holds this home's lock on watching `root`. Raises BusyError (who holds it) or
    OutputError."""
    key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    folder = journal.pipeline_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write {folder}: {exc.strerror}") from exc
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "root": str(root),
    }
    try:
        with held_lock(folder / f"watch-{key}.lock", holder):
            yield
    except LockHeld as held:
        other = held.holder
        who = (
            f"pid {other.get('pid')} on {other.get('host')}, since {other.get('since')}"
            if other.get("pid")
            else "another process"
        )
        raise BusyError(
            f"another tfstudio watch already watches {root} for this TFSTUDIO_HOME ({who})",
            hint="stop that one first (Ctrl-C there"
            + (f", or kill {other['pid']}" if other.get("pid") else "")
            + "); one watcher per folder converts, deploys and benches each export once",
        ) from None


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
