"""Runs models on one runtime release: load, allocate and invoke each, in that release's venv.

The work is the agent's own validation (`edge_agent.validate_child`), so a proof
here means what a device's validation means: the runtime built an interpreter
from the file, allocated its tensors and invoked its default signature once.
It runs in a child process of the venv's Python (`edge_agent.validate.RuntimeChild`):
a runtime that crashes or hangs on a model is that model's answer, and the next
model gets a fresh child.
"""

from __future__ import annotations

import signal
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edge_agent.errors import one_line
from edge_agent.validate import ChildGone, RuntimeChild

RUN_TIMEOUT_S = 120.0
"""Load + allocate + one invoke of one model (a cold runtime import included)."""


def run_models(
    python: str | Path,
    paths: Sequence[Path],
    *,
    timeout_s: float = RUN_TIMEOUT_S,
    ranges: Sequence[tuple[float, float] | None] | None = None,
    on_done: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Returns, for each model in `paths`, the runtime's answer in the venv of `python`.

    Each answer is `{"ok": true, "runtime", "load_ms", "invoke_ms", "outputs"}` or
    `{"ok": false, "stage": "runtime"|"load"|"invoke"|"crash"|"timeout", "error"}`,
    with the runtime's own text as the error. `ranges[i]` is the range of model i's
    random float inputs (default [-1, 1], as a device's validation uses); `on_done(i)`
    is called after model i.
    """
    answers: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tfstudio-compat-") as home:
        child = RuntimeChild(Path(home), python=str(python))
        try:
            for index, path in enumerate(paths):
                value_range = ranges[index] if ranges is not None else None
                answers.append(_one(child, Path(path), timeout_s, value_range))
                if on_done is not None:
                    on_done(index)
        finally:
            child.close()
    return answers


def _one(
    child: RuntimeChild, path: Path, timeout_s: float, value_range: tuple[float, float] | None
) -> dict[str, Any]:
    job: dict[str, Any] = {"op": "validate", "path": str(path.absolute())}
    if value_range is not None:
        job["range"] = list(value_range)
    try:
        return child.job(job, timeout_s)
    except ChildGone as gone:
        if gone.returncode is None:
            return {
                "ok": False,
                "stage": "timeout",
                "error": f"no answer within {timeout_s:g} s; the runtime was stopped",
            }
        code = gone.returncode
        how = f"signal {_signal_name(-code)}" if code < 0 else f"exit status {code}"
        tail = one_line(gone.stderr)[-300:]
        return {
            "ok": False,
            "stage": "crash",
            "error": f"the runtime crashed ({how})" + (f": {tail}" if tail else ""),
        }


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
