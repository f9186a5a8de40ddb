"""Install: one pass over a model's bytes, validation on this device's runtime, store by link.

1. **The digest.** An upload in `inbox/` carries the digest its writer
   computed as the bytes arrived (`inbox`); it is used while the file still
   has the identity recorded with it. Otherwise the file is read once,
   streaming (an inbox file without a valid record), or copied into `inbox/`
   while it is hashed (a file from elsewhere: the store must own its copy).
   No step holds the model in memory.
2. **Facts** come from the flatbuffer through a memory map (the tables only).
3. **Validation** runs in the runtime child, which loads the file by path
   (the runtime's own load, memory-mapped) and never hashes it. The file's
   identity (device, inode, size, mtime, ctime) is checked after the child is
   done: a file changed since it was hashed is refused, even if it changed
   back to the same size, because any write moves its mtime and ctime.
4. **Store by link, never copy.** Inbox and store are on one filesystem under
   the agent home: the file is hard-linked into a temp directory in
   `models/`, checked to be still unwritten, fsynced with its manifest and
   the directory, and the directory renamed to `models/<sha256>/`. Only then
   is the inbox name removed, so a crash at any step leaves either the upload
   (to install again without sending it again) or the stored model. Where the
   filesystem has no hard links, the file is renamed instead.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Optional

from edge_agent import devicelock, fsutil, inbox, space
from edge_agent.errors import AgentError
from edge_agent.fsutil import pause_point
from edge_agent.manifest import clean_name, default_name, file_facts, new_manifest
from edge_agent.store import MANIFEST_FILE, MODEL_FILE, SHA_RE, Store

if TYPE_CHECKING:
    from edge_agent.validate import RuntimeChild


@dataclass(frozen=True)
class Candidate:
    """The file an install stores: its digest and its identity when hashed."""

    path: Path
    sha256: str
    stat: os.stat_result
    owned: bool  # a copy this install made in inbox/ (removed unless stored)
    upload: bool  # an upload in inbox/ (removed once stored)


def _inside(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
        return True
    except ValueError:
        return False


def candidate(store: Store, source: Path) -> Candidate:
    """Returns the verified file to install from `source` (one pass over its bytes at most).

    Raises AgentError (not_found, usage, disk_full, sha256_mismatch).
    """
    if _inside(source, store.inbox):
        try:
            st = source.stat()
        except FileNotFoundError:
            raise AgentError(f"no such file: {source}", "not_found") from None
        sha = inbox.recorded_digest(source, st)
        if sha is None:
            sha, st = inbox.hash_file(source)
        return Candidate(source, sha, st, owned=False, upload=True)
    if source.is_dir():
        raise AgentError(f"{source} is a directory, not a model file", "usage")
    store.ensure()
    copy = fsutil.temp_name(store.inbox, "install-")
    try:
        sha, st = inbox.copy_hashing(source, copy)
    except BaseException:
        with contextlib.suppress(OSError):
            copy.unlink()
        raise
    return Candidate(copy, sha, st, owned=True, upload=False)


def _drop(cand: Candidate) -> None:
    """Removes the candidate file: an install copy, or a refused upload and its record."""
    if cand.owned:
        with contextlib.suppress(OSError):
            cand.path.unlink()
    elif cand.upload:
        inbox.discard(cand.path)


def _check_unchanged(cand: Candidate) -> None:
    try:
        now = cand.path.stat()
    except OSError:
        raise inbox.changed_error(cand.path) from None
    if inbox.identity(now) != inbox.identity(cand.stat):
        raise inbox.changed_error(cand.path)


def install_model(
    store: Store,
    source: Path,
    name: Optional[str] = None,
    expected_sha: Optional[str] = None,
    activate: bool = True,
    keep: Optional[int] = None,
    timeout_s: float = 60.0,
    lock_id: Optional[str] = None,
    lock_wait_s: Optional[float] = None,
    runtime: Optional[RuntimeChild] = None,
) -> Dict[str, Any]:
    """Verifies, validates (runtime child), stores and optionally activates a model.

    One pass over the bytes, store by link (see the module docstring). With
    `keep`, prunes afterwards (see `Store.prune`). `lock_id` names the deploy
    holding the device lock; without it the install takes that lock itself.
    `runtime` is an agent session's runtime child.
    Returns the contract's install object. Raises AgentError (sha256_mismatch,
    not_tflite, truncated, runtime_too_old, invoke_failed, validation_*,
    locked, disk_full, not_found, usage); the active model is then unchanged.
    """
    if keep is not None and keep < 1:
        raise AgentError("--keep must be at least 1", "usage")
    if expected_sha is not None and not SHA_RE.match(expected_sha.lower()):
        raise AgentError(f"--sha256 {expected_sha!r} is not 64 hex digits", "usage")
    store.ensure()
    with devicelock.writer(store.home, lock_id, lock_wait_s, owner="install"):
        return install(
            store,
            source,
            name=name,
            expected_sha=expected_sha,
            activate=activate,
            keep=keep,
            timeout_s=timeout_s,
            runtime=runtime,
        )


def install(
    store: Store,
    source: Path,
    *,
    name: Optional[str],
    expected_sha: Optional[str],
    activate: bool,
    keep: Optional[int],
    timeout_s: float,
    runtime: Optional[RuntimeChild] = None,
) -> Dict[str, Any]:
    """Verifies, validates, stores and optionally activates `source`; see the module docstring.

    The caller holds the device lock. `runtime` is the session's runtime child
    (a fresh one is started otherwise). Returns the contract's install object.
    """
    from edge_agent.validate import validate_model

    cand = candidate(store, source)
    try:
        if expected_sha is not None and cand.sha256 != expected_sha.lower():
            _drop(cand)
            raise AgentError(
                f"sha256 mismatch for {source.name}: expected {expected_sha.lower()}, "
                f"the file has {cand.sha256}",
                "sha256_mismatch",
                hint="the upload was corrupted or incomplete; push it again",
            )
        try:
            facts = file_facts(cand.path, cand.sha256)
        except AgentError:
            _drop(cand)
            raise
        sha = cand.sha256
        present = (store.models_dir / sha / MANIFEST_FILE).is_file()
        validation: Optional[Dict[str, Any]] = None
        if not present:
            # Validation runs before the store lock: it is the slow step, and it writes nothing.
            try:
                validation = validate_model(cand.path, facts, timeout_s, runtime)
            finally:
                _check_unchanged(cand)  # a changed file is refused first, whatever the child said
        given_name = clean_name(name)
        with fsutil.store_lock(store.lock_path):
            store.cleanup(keep=cand.path)
            space.sweep(store.home, keep_sha=sha)  # only what is stale: no space is needed here
            pause_point("install-locked")
            present = (store.models_dir / sha / MANIFEST_FILE).is_file()
            if not present:
                manifest = new_manifest(
                    sha, given_name or default_name(source, sha), facts, validation, source
                )
                _store(store, cand, manifest)
            elif given_name and store.manifest(sha).get("name") != given_name:
                man = store.manifest(sha)
                man["name"] = given_name
                fsutil.write_json_atomic(store.models_dir / sha / MANIFEST_FILE, man)
            if activate:
                store.activate_locked(sha, verified=not present)
            elif not present:
                store.record_versions_locked()  # its version number, given in install order
            if keep is not None:
                store.prune_locked(keep, also_keep=sha)
            state = store.state()
            stored_name = store.manifest(sha).get("name")
    except BaseException:
        if cand.owned:
            _drop(cand)
        raise
    if present:
        _drop(cand)
    history = state["history"]
    return {
        "sha256": sha,
        "name": stored_name,
        "size_bytes": facts.size_bytes,
        "min_runtime_version": facts.min_runtime_version,
        "activated": activate,
        "active": state["active"],
        "previous": history[-1] if history else None,
        "already_present": present,
        "validation": validation,
    }


def _store(store: Store, cand: Candidate, manifest: Dict[str, Any]) -> None:
    """Moves the candidate into `models/<sha>/` with its manifest (see the module docstring)."""
    sha = cand.sha256
    models = store.models_dir
    with fsutil.disk_errors(models):
        tmp = fsutil.make_temp_dir(models, f"{sha[:12]}-")
        try:
            target = tmp / MODEL_FILE
            how = _place(cand, target)
            pause_point("install-linked")
            if how != "copy" and not inbox.same_content(cand.stat, target.stat()):
                raise inbox.changed_error(cand.path)
            fd = os.open(str(target), os.O_RDONLY)
            try:
                os.fsync(fd)  # a no-op for an upload its writer fsynced; the guarantee otherwise
            finally:
                os.close(fd)
            pause_point("install-model-written")
            fsutil.write_json_atomic(tmp / MANIFEST_FILE, manifest)
            fsutil.fsync_dir(tmp)
            pause_point("install-staged")
            os.rename(tmp, models / sha)
        except BaseException:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsutil.fsync_dir(models)
        if how != "rename":
            os.unlink(cand.path)
        if cand.upload:
            inbox.forget(cand.path)
        fsutil.fsync_dir(cand.path.parent)
    pause_point("install-stored")


def _place(cand: Candidate, target: Path) -> str:
    """Puts the candidate's bytes at `target`; returns how: "link" (a hard link to the
    same inode), "rename" (no hard links on this filesystem) or "copy" (the inbox is on
    another filesystem than the store; the copy is hashed and must match)."""
    try:
        os.link(cand.path, target)
        return "link"
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            sha, _ = inbox.copy_hashing(cand.path, target)
            if sha != cand.sha256:
                raise inbox.changed_error(cand.path) from None
            return "copy"
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
    os.rename(cand.path, target)
    return "rename"
