"""Proofs: a model loaded, allocated and invoked (or not) on a named runtime release.

`tfstudio compat` records what each release did with each model, by the model's
sha256, in `$TFSTUDIO_HOME/compat/proofs.json`; a second `compat` of the same
model reads it instead of running again, and preflight uses the proof for a
device's exact runtime before any table. A proof is a fact about two fixed
things (a file's bytes, a wheel), so it never expires.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tfstudio.atomic import file_lock, write_text_atomic
from tfstudio.config import studio_home

STORE = "proofs.json"
_NODE = re.compile(r"Node number \d+ \([A-Za-z0-9_]+\) failed to (?:prepare|invoke)")
_SOURCE = re.compile(r"^\S*/[a-z_0-9]+\.cc(?::\d+)? ")
_UNREGISTERED = re.compile(r"(Didn't find op for builtin opcode '[A-Z0-9_]+' version '\d+')")
_NOISE = ("Failed to apply the default TensorFlow Lite delegate indexed at 0.",)


def short_reason(text: str) -> str:
    """A runtime's error as one short phrase: without source paths, node numbers, the
    delegate's noise or the "are you using an old binary" advice."""
    text = " ".join(text.split())
    for noise in _NOISE:
        text = text.replace(noise, "")
    unregistered = _UNREGISTERED.search(text)
    if unregistered:
        return unregistered.group(1)
    text = _NODE.split(text)[0].strip()
    return _SOURCE.sub("", text).strip().rstrip(".") or "failed (the runtime gave no reason)"


@dataclass(frozen=True)
class Proof:
    """What runtime `name` `version` did with the model `sha256`.

    `ok`: it loaded, allocated and invoked the default signature once. Else
    `stage` ("load", "invoke", "crash", "timeout") and `error`, the runtime's own text.
    """

    sha256: str
    name: str
    version: str
    ok: bool
    stage: str | None
    error: str | None
    load_ms: float | None
    invoke_ms: float | None
    proven_at: str
    python: str = ""
    numpy: str = ""

    @property
    def runtime(self) -> str:
        """'tflite-runtime 2.14.0'."""
        return f"{self.name} {self.version}"

    def summary(self) -> str:
        """'runs' or 'invoke: <the runtime's reason, short>' (`error` keeps all of it)."""
        if self.ok:
            return "runs"
        return f"{self.stage}: {short_reason(self.error or '')[:200]}"

    def to_json(self) -> dict[str, Any]:
        """Returns every field, plus `runtime`."""
        return {**asdict(self), "runtime": self.runtime}


class ProofStore:
    """The proofs of one studio home (`compat/proofs.json`), read and written under a lock."""

    def __init__(self, home: Path | None = None) -> None:
        self.folder = (home or studio_home()) / "compat"

    @property
    def path(self) -> Path:
        """The store's file."""
        return self.folder / STORE

    def get(self, sha256: str, name: str, version: str) -> Proof | None:
        """Returns the proof of model `sha256` on runtime `name` `version`, or None."""
        entry = self._read().get(sha256, {}).get(f"{name} {version}")
        return _proof(entry) if isinstance(entry, dict) else None

    def all_for(self, sha256: str) -> list[Proof]:
        """Returns every proof of model `sha256`."""
        found = self._read().get(sha256, {})
        return [p for p in (_proof(e) for e in found.values() if isinstance(e, dict)) if p]

    def put(self, proof: Proof) -> None:
        """Records `proof` (replacing one of the same model and runtime)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with file_lock(self.folder / ".proofs.lock"):
            data = self._read()
            data.setdefault(proof.sha256, {})[proof.runtime] = asdict(proof)
            write_text_atomic(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n")

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}


def _proof(entry: dict[str, Any]) -> Proof | None:
    fields: dict[str, Any] = {k: entry[k] for k in Proof.__dataclass_fields__ if k in entry}
    try:
        return Proof(**fields)
    except TypeError:  # a store written by another version: not a proof
        return None
