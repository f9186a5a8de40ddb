"""Hot reload for `serve`: watches the store and swaps the served model between requests.

`watchdog` (when importable) wakes the reloader as soon as `active.json` is
replaced or a file lands in `inbox/`; devices without watchdog fall back to
polling. The reloader thread (never a request thread) installs verified inbox
files (`inbox/<sha256>.tflite`), then, when the active sha changed, loads the
new model, checks its sha256 and runs one invoke; only then does it swap the
holder's reference. Requests already running keep the old model to the end.
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
from typing import Any, Callable, Optional, Tuple

from edge_agent.errors import AgentError
from edge_agent.metrics import Metrics
from edge_agent.predict import LoadedModel
from edge_agent.store import DEFAULT_KEEP, Store

INBOX_RE = re.compile(r"^([0-9a-f]{64})\.tflite$")
"""A finished upload: the studio renames `<sha>.partial` to this when the transfer is done."""

POLL_S = 0.25
"""Polling period without watchdog; with it, a slow backstop poll in case an event is missed."""
BACKSTOP_S = 2.0


def load_model(store: Store, sha: str) -> LoadedModel:
    """Verifies a stored model's sha256, builds its interpreter, reads its signatures and
    version, and runs one invoke.

    Raises AgentError (not_found, sha256_mismatch, invoke_failed, no_runtime).
    """
    import numpy as np

    from edge_agent import runtime
    from edge_agent.signatures import read_signatures

    store.verify(sha)
    try:
        interp = runtime.make_interpreter(model_path=str(store.model_path(sha)), quiet=True)
        inputs = [
            runtime.generated_input(d, "zeros", np.random.default_rng(0))
            for d in interp.get_input_details()
        ]
        runtime.run_once(interp, inputs)
        signatures = read_signatures(interp)
    except runtime.RuntimeMissingError as exc:
        raise AgentError(str(exc), "no_runtime") from None
    except Exception as exc:  # noqa: BLE001 - the runtime's own text
        raise AgentError(f"model {sha[:12]} failed to load: {exc}", "invoke_failed") from None
    name = str(store.manifest(sha).get("name") or sha[:12])
    return LoadedModel(
        sha256=sha,
        name=name,
        version=store.versions().get(sha, 0),
        interpreter=interp,
        signatures=signatures,
    )


class ModelHolder:
    """The model requests use. Swapping is one reference assignment (atomic in CPython)."""

    def __init__(self) -> None:
        self.current: Optional[LoadedModel] = None
        self.failed: Optional[Tuple[str, str]] = None
        """(sha256, why) of the last model that failed to load, until one loads."""


def log(message: str) -> None:
    """One line on stderr: the server's log."""
    sys.stderr.write(f"tfstudio-agent serve: {message}\n")
    sys.stderr.flush()


class Reloader:
    """The background thread that follows the store: inbox pickups, then active swaps."""

    def __init__(self, store: Store, holder: ModelHolder, metrics: Metrics) -> None:
        self.store = store
        self.holder = holder
        self.metrics = metrics
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self._failed_sha: Optional[str] = None
        self._observer: Any = None
        self.mode = "polling"
        self._thread = threading.Thread(target=self._run, name="reloader", daemon=True)

    def start(self) -> None:
        """Starts watching (watchdog if importable, else polling) and the reload thread."""
        self._observer = _start_watchdog(self.store, self.wake.set)
        self.mode = "watchdog" if self._observer is not None else "polling"
        self._thread.start()

    def stop(self) -> None:
        """Stops the thread and the observer."""
        self.stopping.set()
        self.wake.set()
        if self._observer is not None:
            with contextlib.suppress(Exception):
                self._observer.stop()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        period = BACKSTOP_S if self.mode == "watchdog" else POLL_S
        while not self.stopping.is_set():
            self.wake.wait(timeout=period)
            self.wake.clear()
            if self.stopping.is_set():
                return
            try:
                self.check_inbox()
                self.check_active()
            except Exception as exc:  # noqa: BLE001 - the server must outlive any reload fault
                log(f"reload error: {type(exc).__name__}: {exc}")

    def check_inbox(self) -> None:
        """Installs and activates every finished upload in inbox/."""
        from edge_agent.install import install_model

        if not self.store.inbox.is_dir():
            return
        for path in sorted(self.store.inbox.iterdir()):
            match = INBOX_RE.match(path.name)
            if not match:
                continue
            try:
                result = install_model(
                    self.store,
                    path,
                    expected_sha=match.group(1),
                    activate=True,
                    keep=DEFAULT_KEEP,
                    lock_wait_s=0,  # a deploy holds the device: try again on the next wake
                )
            except AgentError as exc:
                if exc.code == "locked":
                    return  # a CLI install is running; try again on the next wake
                self.metrics.count("inbox", "rejected")
                log(f"inbox: refused {path.name}: {exc.message}")
                with contextlib.suppress(OSError):  # not retried forever
                    path.rename(path.with_suffix(".rejected"))
                continue
            self.metrics.count("inbox", "installed")
            log(f"inbox: installed and activated {result['sha256'][:12]}")

    def check_active(self) -> None:
        """Loads the active model when it differs from the one served, then swaps."""
        sha = self.store.active_sha()
        current = self.holder.current
        if sha is None or (current is not None and current.sha256 == sha):
            return
        if sha == self._failed_sha:
            return  # failed before; wait for the pointer to change again
        try:
            new = load_model(self.store, sha)
        except AgentError as exc:
            self._failed_sha = sha
            self.holder.failed = (sha, exc.message)
            self.metrics.count("reloads", "failed")
            log(f"keeping the old model: {exc.message}")
            return
        self._failed_sha = None
        self.holder.current = new
        self.holder.failed = None
        self.metrics.count("reloads", "ok")
        log(f"now serving {new.sha256[:12]} ({new.name})")


def _start_watchdog(store: Store, wake: Callable[[], None]) -> Any:
    """Returns a started watchdog Observer on home and inbox/, or None without watchdog."""
    try:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
    except Exception:  # noqa: BLE001 - devices may lack watchdog: poll instead
        return None

    class _Wake(FileSystemEventHandler):
        def on_any_event(self, event: Any) -> None:
            wake()

    observer = Observer()
    observer.daemon = True
    observer.schedule(_Wake(), str(store.home), recursive=False)
    observer.schedule(_Wake(), str(store.inbox), recursive=False)
    try:
        observer.start()
    except Exception:  # noqa: BLE001 - e.g. inotify limits: polling still works
        return None
    return observer
