"""A staged rollout as a record in the deploy log: the events it appends, folded into its state.

Every change of a rollout is one line of `deploys.jsonl` with `kind: rollout`,
its `id` and an `event`, appended under the log's lock the moment it happens:

- `start`: the model, selector, seed, canaries, the waves (device names, frozen
  here: a resume never re-resolves the selector) and the options and gates;
- `resume`: a later run took it up again (its pid, any option it changed);
- `wave`: a wave's state (deploying, soaking, rolling_back, passed, failed,
  interrupted), with the gate failures and timings once known;
- `before`: the model a device ran when this rollout first reached it, written
  before anything is written on the device (so a rollback has its target even
  after the studio was killed mid-wave);
- `device`: one device's deploy result; `rollback`: one device rolled back;
- `end`: done, halted (which gate, on which devices) or interrupted.

The state is the fold of those lines (`RolloutRecord.load`), so a rollout whose
studio was killed reads as far as it got. A run holds a lock file
(`rollouts/ID.lock`) for its life: a record left "running" with nobody holding
its lock was stopped without a word (a kill, a crash), and reads as interrupted.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tfstudio.config import studio_home
from tfstudio.errors import RolloutError, UsageError
from tfstudio.fleet import deploylog

KIND = deploylog.ROLLOUT_KIND
_ID = re.compile(r"^[0-9a-f-]{4,40}$")

PASSED = "passed"
FINISHED = ("done", "halted", "interrupted")


@dataclass
class WaveRecord:
    """One wave: its devices, where it is, and why it failed."""

    index: int
    devices: list[str]
    state: str = "pending"
    failures: list[dict[str, Any]] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)
    soak: list[dict[str, Any]] = field(default_factory=list)
    detail: str = ""


@dataclass
class DeviceRecord:
    """What the rollout knows of one device."""

    wave: int
    before: str | None = None
    before_known: bool = False
    status: str | None = None
    message: str = ""
    active: str | None = None
    bench: dict[str, Any] | None = None
    eval: dict[str, Any] | None = None
    rolled_back: bool = False


@dataclass
class RolloutRecord:
    """A rollout's state: the fold of its events."""

    id: str
    model: str = ""
    sha256: str = ""
    size_bytes: int = 0
    selector: str = ""
    seed: int = 0
    canaries: list[str] = field(default_factory=list)
    waves_spec: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    waves: list[WaveRecord] = field(default_factory=list)
    devices: dict[str, DeviceRecord] = field(default_factory=dict)
    state: str = "running"
    halted: dict[str, Any] | None = None
    started: str = ""
    updated: str = ""
    runs: int = 0
    pid: int | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    # -- the fold -----------------------------------------------------------------

    def apply(self, event: dict[str, Any]) -> None:
        """Folds one event into the state."""
        kind = event.get("event")
        self.updated = str(event.get("time") or self.updated)
        if kind == "start":
            self.model, self.sha256 = event["model"], event["sha256"]
            self.size_bytes = int(event.get("size_bytes") or 0)
            self.selector, self.seed = event.get("selector", ""), int(event.get("seed") or 0)
            self.canaries = list(event.get("canaries") or [])
            self.waves_spec = event.get("waves_spec", "")
            self.options = dict(event.get("options") or {})
            self.waves = [WaveRecord(i + 1, list(w)) for i, w in enumerate(event["waves"])]
            self.devices = {
                name: DeviceRecord(wave.index) for wave in self.waves for name in wave.devices
            }
            self.started, self.runs, self.pid = self.updated, 1, event.get("pid")
            self.state = "running"
        elif kind == "resume":
            self.options.update(event.get("options") or {})
            self.runs += 1
            self.pid = event.get("pid")
            self.state, self.halted = "running", None
        elif kind == "wave":
            wave = self.waves[int(event["wave"]) - 1]
            wave.state = event["state"]
            if wave.state == "deploying":
                wave.failures, wave.soak, wave.timing, wave.detail = [], [], {}, ""
            wave.failures = list(event.get("failures") or wave.failures)
            wave.timing.update(event.get("timing") or {})
            wave.soak = list(event.get("soak") or wave.soak)
            wave.detail = event.get("detail") or wave.detail
        elif kind == "before":
            device = self.devices.get(event["device"])
            if device is not None and not device.before_known:
                device.before, device.before_known = event.get("before"), True
        elif kind == "device":
            device = self.devices.get(event["device"])
            if device is not None:
                device.status = event.get("status")
                device.message = event.get("message") or ""
                device.active = event.get("active")
                device.bench, device.eval = event.get("bench"), event.get("eval")
                device.rolled_back = device.status == "rolled_back"
        elif kind == "rollback":
            device = self.devices.get(event["device"])
            if device is not None:
                device.active = event.get("active", device.active)
                device.rolled_back = bool(event.get("ok"))
                device.message = event.get("message") or device.message
        elif kind == "end":
            self.state = event["state"]
            self.halted = event.get("halted")

    @classmethod
    def load(cls, rollout_id: str) -> RolloutRecord:
        """Returns the rollout `rollout_id` (or a unique prefix of it), folded from the log.

        Raises UsageError for an id that is malformed, unknown or ambiguous.
        """
        if not _ID.match(rollout_id):
            raise UsageError(f"invalid rollout id {rollout_id!r}", hint="see: tfstudio rollouts")
        lines = deploylog.read_kind(KIND)
        ids = list(dict.fromkeys(str(e.get("id")) for e in lines))
        matches = [i for i in ids if i == rollout_id] or [
            i for i in ids if i.startswith(rollout_id)
        ]
        if not matches:
            raise UsageError(f"no rollout {rollout_id!r}", hint="see: tfstudio rollouts")
        if len(matches) > 1:
            raise UsageError(
                f"rollout id {rollout_id!r} is ambiguous ({', '.join(matches[:3])}...)",
                hint="give more of the id",
            )
        return cls.fold(matches[0], [e for e in lines if e.get("id") == matches[0]])

    @classmethod
    def fold(cls, rollout_id: str, events: list[dict[str, Any]]) -> RolloutRecord:
        """Returns the record of `events` (one rollout's lines, oldest first)."""
        record = cls(rollout_id)
        for event in events:
            record.apply(event)
        return record

    # -- writing ------------------------------------------------------------------

    def emit(self, event: str, **fields: Any) -> None:
        """Applies and appends one event (thread-safe; device workers call it too).

        Raises OutputError when the log cannot be written.
        """
        with self._lock:
            written = deploylog.append_line({"kind": KIND, "id": self.id, "event": event, **fields})
            self.apply(written)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Holds this rollout's lock for a run. Raises DeployError when another run of it
        is going on."""
        path = lock_path(self.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RolloutError(
                    f"rollout {self.id} is running in another studio (pid {self.pid})",
                    hint="wait for it, or stop it with Ctrl-C there",
                ) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- reading ------------------------------------------------------------------

    @property
    def live(self) -> bool:
        """True while a run holds the rollout's lock."""
        path = lock_path(self.id)
        if not path.exists():
            return False
        with open(path, "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
        return False

    @property
    def shown_state(self) -> str:
        """The state to show: `running` only while a run holds it, else `interrupted`."""
        if self.state == "running" and not self.live:
            return "interrupted"
        return self.state

    def next_wave(self) -> int | None:
        """The first wave that has not passed (1-based), or None when all have."""
        for wave in self.waves:
            if wave.state != PASSED:
                return wave.index
        return None

    def passed(self) -> int:
        """How many waves passed."""
        return sum(w.state == PASSED for w in self.waves)

    def to_json(self) -> dict[str, Any]:
        """Returns the record as JSON-able data (the state as shown)."""
        out = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        out["state"] = self.shown_state
        out["waves_passed"] = self.passed()
        return out


def lock_path(rollout_id: str) -> Path:
    """The lock file a run of `rollout_id` holds."""
    return studio_home() / "rollouts" / f"{rollout_id}.lock"


def new_id() -> str:
    """Returns a new rollout id: UTC date-time and 4 random hex digits (sortable)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


def runner() -> dict[str, Any]:
    """Who runs a rollout: pid and host, for the record."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def list_rollouts() -> list[RolloutRecord]:
    """Returns every rollout in the deploy log, oldest first."""
    lines = deploylog.read_kind(KIND)
    by_id: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_id.setdefault(str(line.get("id")), []).append(line)
    return [RolloutRecord.fold(i, events) for i, events in by_id.items()]
