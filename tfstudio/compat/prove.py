"""`compat`: prove models on named runtime releases, next to what the measured table says.

For each runtime release (`tflite-runtime==2.14.0`), its venv is built once
(`venvs`) and each model is loaded, allocated and invoked there (`runner`); the
answer is a `Proof`, kept by the model's sha256 (`proofs`), so the same model on
the same release is answered from the store the next time (`fresh` runs again).
Each row also says what the measured table (`edge_agent.measured`) predicts for
that release, so a disagreement shows. A runtime whose venv cannot be built
(offline, no wheel for any Python here) is a failed row naming the wheel, not an
exception: the other runtimes go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_agent import measured
from edge_agent.fsutil import utc_now
from tfstudio.compat.proofs import Proof, ProofStore
from tfstudio.compat.runner import run_models
from tfstudio.compat.venvs import RuntimeSpec, RuntimeVenvError, cached_venv, ensure_venv
from tfstudio.errors import CancelledError, UsageError
from tfstudio.models.facts import ModelFacts, inspect_model
from tfstudio.operations import CancelToken, EventCallback, Reporter, Stage

OPERATION = "compat"
"""The operation name of compat's events; the target is a runtime ('tflite-runtime 2.14.0')."""


@dataclass(frozen=True)
class CompatRow:
    """One model on one runtime release: the proof (None when the runtime was not
    available, `error` says why), whether it came from the store, and the table's word."""

    model: Path
    sha256: str
    runtime: str
    proof: Proof | None
    cached: bool = False
    error: str | None = None
    table: str = ""
    table_ok: bool | None = None

    @property
    def ok(self) -> bool:
        """True when the model was proven to run there."""
        return self.proof is not None and self.proof.ok

    @property
    def agrees(self) -> bool | None:
        """Whether the proof and the measured table agree (None: either is missing)."""
        if self.proof is None or self.table_ok is None:
            return None
        return self.proof.ok == self.table_ok

    def to_json(self) -> dict[str, Any]:
        """Returns {model, sha256, runtime, ok, cached, error, table, table_ok, proof}."""
        return {
            "model": str(self.model),
            "sha256": self.sha256,
            "runtime": self.runtime,
            "ok": self.ok,
            "cached": self.cached,
            "error": self.error,
            "table": self.table,
            "table_ok": self.table_ok,
            "proof": self.proof.to_json() if self.proof else None,
        }


@dataclass(frozen=True)
class CompatResult:
    """Every (model, runtime) row, in the order asked."""

    rows: tuple[CompatRow, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when every model was proven to run on every runtime."""
        return bool(self.rows) and all(row.ok for row in self.rows)

    def to_json(self) -> dict[str, Any]:
        """Returns {ok, rows: [...]}."""
        return {"ok": self.ok, "rows": [row.to_json() for row in self.rows]}


def prove(
    models: Sequence[str | Path],
    runtimes: Sequence[RuntimeSpec],
    *,
    fresh: bool = False,
    root: Path | None = None,
    store: ProofStore | None = None,
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
) -> CompatResult:
    """Proves each model on each runtime release; returns the matrix.

    Events (operation "compat", target the runtime): BUILD while its venv is
    built, CHECK while the models run, TargetFinished (ok when every model ran).
    Raises ModelFormatError for a file that is not a model, UsageError without
    runtimes, CancelledError between runtimes when `cancel` is set.
    """
    if not runtimes:
        raise UsageError(
            "name the runtime releases to prove the model on",
            hint="--runtime tflite-runtime==2.14.0 --runtime ai-edge-litert==2.3.0",
        )
    paths = [Path(m) for m in models]
    facts = [inspect_model(p) for p in paths]
    store = store or ProofStore()
    rows: list[CompatRow] = []
    for index, spec in enumerate(dict.fromkeys(runtimes), start=1):
        if cancel is not None and cancel.is_set():
            raise CancelledError(f"compat cancelled after {index - 1} of {len(runtimes)} runtimes")
        report = Reporter(OPERATION, spec.label, on_event)
        found = _one_runtime(spec, paths, facts, fresh, root, store, report, index, len(runtimes))
        rows.extend(found)
        bad = [r for r in found if not r.ok]
        message = "runs every model" if not bad else (bad[0].error or _summary(bad[0]))
        report.finished(not bad, message, {"rows": [r.to_json() for r in found]})
    return CompatResult(tuple(rows))


def _one_runtime(
    spec: RuntimeSpec,
    paths: list[Path],
    facts: list[ModelFacts],
    fresh: bool,
    root: Path | None,
    store: ProofStore,
    report: Reporter,
    index: int,
    total: int,
) -> list[CompatRow]:
    known = {
        f.sha256: None if fresh else store.get(f.sha256, spec.name, spec.version) for f in facts
    }
    todo = [(p, f) for p, f in zip(paths, facts) if known[f.sha256] is None]
    fresh_proofs: dict[str, Proof] = {}
    error = None
    if todo:
        if cached_venv(spec, root) is None:
            report.stage(Stage.BUILD, f"building a venv for {spec.requirement}", index, total)
        try:
            venv, _ = ensure_venv(spec, root)
        except RuntimeVenvError as exc:
            error = str(exc)
        else:
            report.stage(Stage.CHECK, f"running {len(todo)} model(s)", index, total)
            answers = run_models(venv.python, [p for p, _ in todo])
            for (_path, fact), answer in zip(todo, answers):
                made = _proof(fact.sha256, spec, answer, venv.python_version, venv.numpy_version)
                store.put(made)
                fresh_proofs[fact.sha256] = made
    rows = []
    for path, fact in zip(paths, facts):
        proof = known[fact.sha256] or fresh_proofs.get(fact.sha256)
        table, table_ok = _table(fact, spec)
        rows.append(
            CompatRow(
                path,
                fact.sha256,
                spec.label,
                proof,
                cached=known[fact.sha256] is not None,
                error=None if proof else error,
                table=table,
                table_ok=table_ok,
            )
        )
    return rows


def _proof(
    sha256: str, spec: RuntimeSpec, answer: dict[str, Any], python: str, numpy: str
) -> Proof:
    ok = bool(answer.get("ok"))
    return Proof(
        sha256=sha256,
        name=spec.name,
        version=spec.version,
        ok=ok,
        stage=None if ok else str(answer.get("stage") or "load"),
        error=None if ok else " ".join(str(answer.get("error") or "").split())[:1000],
        load_ms=answer.get("load_ms"),
        invoke_ms=answer.get("invoke_ms"),
        proven_at=utc_now(),
        python=python,
        numpy=numpy,
    )


def _table(facts: ModelFacts, spec: RuntimeSpec) -> tuple[str, bool | None]:
    """What the measured table says of the model on this release: ('runs', True), ('no
    FULLY_CONNECTED v12', False), or ('not measured', None)."""
    release = measured.release_for(spec.name, spec.version)
    if release is None:
        return "not measured", None
    found = measured.check_release(
        release[0], [(op.name, op.version) for op in facts.ops], facts.kernels
    )
    flex = facts.flex_ops
    reasons = found.reasons() + ([f"Flex ops {', '.join(flex)}"] if flex else [])
    return ("runs" if not reasons else "; ".join(reasons)), not reasons


def _summary(row: CompatRow) -> str:
    return row.proof.summary() if row.proof else (row.error or "not proven")
