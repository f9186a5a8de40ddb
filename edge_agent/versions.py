"""Model versions and labels: how the agent numbers its stored models for TF Serving's API.

TF Serving names a model and numbers its versions; the agent's store is content
addressed (a model is its sha256), so the store gives each stored model a small
integer, in install order: the first model stored is 1, the next 2, and so on.
The numbers live in the pointer file (`active.json`: `versions` {sha256: n} and
`next_version`), so they are stable across restarts, activations and rollbacks,
and a pruned model's number is never given again (a model stored again later is
a new install and gets a new number).

A home written before versions existed has no `versions`: its models are
numbered by install time (`installed_at`, then sha256), the same way by every
reader and by the next write of the pointer, which records them.

Labels (TF Serving's version labels): `stable` is the active model, `previous`
the model `rollback` would return to.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

STABLE = "stable"
PREVIOUS = "previous"


def numbering(
    state: Dict[str, Any], stored: Iterable[str], installed_at: Callable[[str], str]
) -> Tuple[Dict[str, int], int]:
    """Returns ({sha256: version} for every stored model, the next version to give).

    Models of `stored` without a recorded version are numbered after the recorded
    ones, oldest install first; `installed_at(sha)` is read only for those.
    """
    recorded = state.get("versions") or {}
    stored = list(stored)
    versions = {sha: int(recorded[sha]) for sha in stored if sha in recorded}
    highest = max([int(n) for n in recorded.values()] or [0])
    following = max(int(state.get("next_version") or 1), highest + 1)
    for sha in sorted((s for s in stored if s not in versions), key=lambda s: (installed_at(s), s)):
        versions[sha] = following
        following += 1
    return versions, following


def rollback_target(state: Dict[str, Any], stored: Iterable[str]) -> Optional[str]:
    """Returns the sha256 `rollback` would activate (the last stored one in the history)."""
    present = set(stored)
    return next((s for s in reversed(state.get("history") or []) if s in present), None)


def labels(state: Dict[str, Any], stored: Iterable[str]) -> Dict[str, str]:
    """Returns {label: sha256}: `stable` (the active model), `previous` (the rollback target)."""
    stored = list(stored)
    out: Dict[str, str] = {}
    if state.get("active") in stored:
        out[STABLE] = state["active"]
    target = rollback_target(state, stored)
    if target is not None:
        out[PREVIOUS] = target
    return out


def labels_of(sha: str, by_label: Dict[str, str]) -> List[str]:
    """Returns the labels that point at `sha`, in a stable order."""
    return sorted(label for label, target in by_label.items() if target == sha)
