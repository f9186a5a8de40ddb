"""The content-addressed model store in the agent's home, with atomic activation.

Layout (the contract with the studio):
    models/<sha256>/model.tflite, models/<sha256>/manifest.json
    active.json      the active pointer: {"active", "history", "activated_at",
                     "versions", "next_version"} (versions: see `versions`),
                     replaced by rename (a crash leaves the old or the new one)
    inbox/           uploads: `<sha256>.partial`, with `<sha256>.partial.digest` (the
                     digest its writer computed as the bytes arrived, see `inbox`);
                     `install` links the verified file into models/ (`install`)
    scratch/         models pushed only for a bench
    reports/         bench.jsonl
    ops/             records of writes started with an id (see `ops`)
    deploy.lock      the device lock: one deploy or manual writer at a time (`devicelock`)
    lock             the flock that serialises the writes themselves

Pruning keeps the N most recent models and never the active one nor the
rollback target (the model `rollback` would return to), unless asked to drop
the rollback target too. It deletes before it rewrites the pointer, so it
frees space on a full disk.

A model directory appears only by renaming a complete, fsynced temp directory,
and disappears by renaming it to a temp name before deleting it, so
`models/<sha>/` is always complete. The pointer is written only after that.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Optional

from edge_agent import devicelock, fsutil, layout
from edge_agent.errors import AgentError
from edge_agent.fsutil import TEMP_PREFIX, pause_point, utc_now
from edge_agent.versions import numbering

if TYPE_CHECKING:
    pass

DEFAULT_KEEP = 5
"""How many stored models an inbox pickup keeps (the active one and the rollback
target are never pruned). A CLI `install` prunes only when given --keep."""

MODEL_FILE = layout.MODEL_FILE
MANIFEST_FILE = layout.MANIFEST_FILE
STATE_FILE = layout.STATE_FILE
SHA_RE = re.compile(r"^[0-9a-f]{64}$")
PREFIX_RE = re.compile(r"^[0-9a-f]{8,64}$")


def sha256_of(path: Path) -> str:
    """Returns the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Store:
    """The agent's home directory: models, the active pointer, inbox, scratch, reports."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.models_dir = home / "models"
        self.inbox = home / "inbox"
        self.scratch = home / "scratch"
        self.reports = home / "reports"
        self.lock_path = home / "lock"
        self.state_path = home / STATE_FILE

    def ensure(self) -> None:
        """Creates the layout's directories (idempotent)."""
        with fsutil.disk_errors(self.home):
            for directory in (self.models_dir, self.inbox, self.scratch):
                fsutil.private_dir(directory)  # models, in transit and at rest
            self.reports.mkdir(parents=True, exist_ok=True)

    # ---- reading (no lock: every file read here is replaced atomically) ----

    def state(self) -> Dict[str, Any]:
        """Returns the pointer: {"active": sha|None, "history": [...], "activated_at": {},
        "versions": {sha: n}, "next_version": n} (versions as recorded: see `versions`)."""
        raw = fsutil.read_json(self.state_path, default=None) or {}
        return {
            "active": raw.get("active"),
            "history": list(raw.get("history") or []),
            "activated_at": dict(raw.get("activated_at") or {}),
            "versions": dict(raw.get("versions") or {}),
            "next_version": raw.get("next_version"),
        }

    def versions(self, state: Optional[Dict[str, Any]] = None) -> Dict[str, int]:
        """Returns {sha256: version} of every stored model (see `versions`)."""
        state = self.state() if state is None else state
        return numbering(state, self.stored(), self._installed_at)[0]

    def _installed_at(self, sha: str) -> str:
        man = fsutil.read_json(self.models_dir / sha / MANIFEST_FILE, default=None) or {}
        return str(man.get("installed_at") or "")

    def active_sha(self) -> Optional[str]:
        """Returns the active model's sha256, or None."""
        return self.state()["active"]

    def model_path(self, sha: str) -> Path:
        """Returns the path of a stored model's .tflite file."""
        return self.models_dir / sha / MODEL_FILE

    def manifest(self, sha: str) -> Dict[str, Any]:
        """Returns a stored model's manifest. Raises AgentError(not_found)."""
        data = fsutil.read_json(self.models_dir / sha / MANIFEST_FILE)
        if data is None:
            raise AgentError(f"no stored model {sha}", "not_found", hint="see: list")
        return data

    def stored(self) -> List[str]:
        """Returns the sha256 of every complete stored model."""
        return layout.stored_models(str(self.home))

    def listing(self) -> Dict[str, Any]:
        """Returns the `list` object of the contract."""
        state = self.state()
        numbers = self.versions(state)
        models = []
        for sha in self.stored():
            man = self.manifest(sha)
            models.append(
                {
                    "sha256": sha,
                    "version": numbers.get(sha),
                    "name": man.get("name"),
                    "size_bytes": man.get("size_bytes"),
                    "installed_at": man.get("installed_at"),
                    "activated_at": state["activated_at"].get(sha),
                    "active": sha == state["active"],
                    "min_runtime_version": man.get("min_runtime_version"),
                }
            )
        models.sort(key=lambda m: _recency(m["installed_at"], m["activated_at"]), reverse=True)
        return {"active": state["active"], "previous": _previous(state), "models": models}

    def resolve(self, ref: str) -> str:
        """Returns the full sha256 for a full sha or unique prefix (>= 8 hex).

        Raises AgentError: usage (malformed or ambiguous), not_found.
        """
        ref = ref.strip().lower()
        if not PREFIX_RE.match(ref):
            raise AgentError(
                f"{ref!r} is not a sha256 or a prefix of at least 8 hex digits", "usage"
            )
        hits = [sha for sha in self.stored() if sha.startswith(ref)]
        if not hits:
            raise AgentError(f"no stored model matches {ref}", "not_found", hint="see: list")
        if len(hits) > 1:
            raise AgentError(f"{ref} matches {len(hits)} stored models; give more digits", "usage")
        return hits[0]

    # ---- writing (under the lock) ----

    def activate(self, ref: str, lock_id: Optional[str] = None) -> Dict[str, Any]:
        """Makes a stored model (sha or prefix) active. Returns {"active", "previous"}."""
        self.ensure()
        with self._writing(lock_id, "activate"):
            sha = self.resolve(ref)
            self.activate_locked(sha)
            state = self.state()
        return {"active": state["active"], "previous": _previous(state)}

    def rollback(self, lock_id: Optional[str] = None) -> Dict[str, Any]:
        """Re-activates the previously active model. Returns {"active", "previous"}.

        Raises AgentError(no_active) when nothing is active, (not_found) when
        there is no previous model to go back to.
        """
        self.ensure()
        with self._writing(lock_id, "rollback"):
            state = self.state()
            if state["active"] is None:
                raise AgentError(
                    "no model is active, so there is nothing to roll back", "no_active"
                )
            history = [s for s in state["history"] if s in set(self.stored())]
            if not history:
                raise AgentError("there is no previously active model to roll back to", "not_found")
            target = history.pop()
            self.verify(target)
            state["history"] = history
            state["active"] = target
            state["activated_at"][target] = utc_now()
            self._write_state(state)
            pause_point("rollback-done")
        return {"active": state["active"], "previous": _previous(state)}

    def prune(
        self, keep: int, lock_id: Optional[str] = None, drop_rollback: bool = False
    ) -> Dict[str, Any]:
        """Removes all but the `keep` most recent models, never the active one, nor the
        rollback target unless `drop_rollback` (then `rollback` has nothing to return
        to). Returns {"removed", "kept", "freed_bytes", "rollback_target"}.

        Works on a full disk: the models go before the pointer is rewritten."""
        if keep < 1:
            raise AgentError("--keep must be at least 1", "usage")
        self.ensure()
        with self._writing(lock_id, "prune"):
            sizes = {m["sha256"]: m["size_bytes"] or 0 for m in self.listing()["models"]}
            removed = self.prune_locked(keep, also_keep=None, drop_rollback=drop_rollback)
        return {
            "removed": removed,
            "kept": self.stored(),
            "freed_bytes": sum(sizes.get(s, 0) for s in removed),
            "rollback_target": self.rollback_target(),
        }

    def rollback_target(self) -> Optional[str]:
        """The model `rollback` would return to (the newest stored one in the history)."""
        state = self.state()
        stored = set(self.stored())
        return next((s for s in reversed(state["history"]) if s in stored), None)

    @contextlib.contextmanager
    def _writing(self, lock_id: Optional[str], what: str) -> Iterator[None]:
        """The device lock (or the deploy's), then the store lock, then leftovers cleaned."""
        with devicelock.writer(self.home, lock_id, owner=what):
            with fsutil.store_lock(self.lock_path):
                self.cleanup()
                yield

    def verify(self, sha: str) -> None:
        """Re-reads a stored model; raises AgentError (not_found, sha256_mismatch) unless it
        still hashes to its name."""
        path = self.model_path(sha)
        if not path.is_file():
            raise AgentError(f"no stored model {sha}", "not_found", hint="see: list")
        actual = sha256_of(path)
        if actual != sha:
            raise AgentError(
                f"stored model {sha[:12]} is corrupt (its file hashes to {actual[:12]})",
                "sha256_mismatch",
                hint="install it again",
            )

    def activate_locked(self, sha: str, verified: bool = False) -> None:
        """Makes stored model `sha` active (the caller holds the store lock).

        A model is re-hashed first unless `verified` (just stored by this install).
        """
        if not verified:
            self.verify(sha)
        state = self.state()
        if state["active"] != sha:
            history = [s for s in state["history"] if s != sha]
            if state["active"] is not None:
                history.append(state["active"])
            state["history"] = history
            state["active"] = sha
        state["activated_at"][sha] = utc_now()
        self._write_state(state)
        pause_point("activate-done")

    def record_versions_locked(self) -> None:
        """Writes the pointer with a version for every stored model (the caller holds the
        store lock): a model stored without being activated gets its number now."""
        self._write_state(self.state())

    def _write_state(self, state: Dict[str, Any], gone: Iterable[str] = ()) -> None:
        """Replaces the pointer with `state`, its versions completed for every stored model
        but `gone` (models being removed) and trimmed of models no longer stored."""
        gone = set(gone)
        stored = [s for s in self.stored() if s not in gone]
        state["versions"], state["next_version"] = numbering(state, stored, self._installed_at)
        with fsutil.disk_errors(self.home):
            fd, tmp = fsutil.make_temp_file(self.home, "state-")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(state, handle, indent=2, sort_keys=True)
                    handle.flush()
                    os.fsync(handle.fileno())
                pause_point("pointer-staged")
                os.replace(tmp, self.state_path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            fsutil.fsync_dir(self.home)

    def prune_locked(
        self, keep: int, also_keep: Optional[str], drop_rollback: bool = False
    ) -> List[str]:
        """Deletes all but the `keep` most recent models; never the active one nor
        `also_keep` (the model just installed, even with --no-activate), nor the rollback
        target unless `drop_rollback`. The caller holds the store lock. Returns the
        removed sha256s."""
        state = self.state()
        listing = self.listing()["models"]  # newest first
        target = None if drop_rollback else self.rollback_target()
        protected = {s for s in (state["active"], target, also_keep) if s}
        keepers = set(protected)
        for model in listing:
            if len(keepers) >= max(keep, len(protected)):
                break
            keepers.add(model["sha256"])
        doomed = [m["sha256"] for m in listing if m["sha256"] not in keepers]
        if not doomed:
            return []
        # The directories go first, the pointer after: on a full disk the pointer cannot
        # be written until they have gone. A crash between leaves a pointer that names
        # models no longer stored, which every reader already skips (and their version
        # numbers are not given again: next_version stays).
        for sha in doomed:
            # Rename first: a crash mid-delete leaves a temp dir, never a half model dir.
            trash = self.models_dir / f"{TEMP_PREFIX}trash-{sha[:12]}-{os.getpid()}"
            os.rename(self.models_dir / sha, trash)
            fsutil.fsync_dir(self.models_dir)
            pause_point("prune-renamed")
            _rmtree(trash)
        state["history"] = [s for s in state["history"] if s not in doomed]
        state["activated_at"] = {k: v for k, v in state["activated_at"].items() if k not in doomed}
        self._write_state(state, gone=doomed)
        return doomed

    def cleanup(self, keep: Optional[Path] = None) -> None:
        """Removes leftovers of killed writers: temp dirs and files in the home, in models/
        and in inbox/ (but not `keep`, the file of the install running). Caller holds the lock."""
        for directory in (self.models_dir, self.home, self.inbox):
            if not directory.is_dir():
                continue
            for entry in directory.iterdir():
                if not entry.name.startswith(TEMP_PREFIX) or entry == keep:
                    continue
                if entry.is_dir():
                    _rmtree(entry)
                else:
                    with contextlib.suppress(OSError):
                        entry.unlink()


def _rmtree(path: Path) -> None:
    import shutil  # only when there is a tree to remove: most commands never need it

    shutil.rmtree(path, ignore_errors=True)


def _previous(state: Dict[str, Any]) -> Optional[str]:
    history = state["history"]
    return history[-1] if history else None


def _recency(installed: Optional[str], activated: Optional[str]) -> str:
    return max(installed or "", activated or "")
