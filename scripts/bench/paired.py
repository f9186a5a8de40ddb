"""The one rule every benchmark follows: paired, alternating rounds, and one result line.

A headline figure is the command a user types, as a whole process, against the
anchor as a whole process (`scp`, `docker run`, a bare Textual app, `python -c
pass`). `paired_rounds` runs the two in rounds whose order alternates (anchor
first in even rounds, ours first in odd ones), so that load on a shared machine
hits both alike; the figure is the min / median / max of the per-round ratio
ours / anchor, never a ratio of medians taken from unpaired runs. The verdict is
on the median ratio.

`report` prints both sides' whole-process times, the ratio and the load, then one
machine-readable `BENCH-RESULT {json}` line that `scripts/bench/run_all.py`
gathers into the single table `scripts/bench.sh` prints. Per-stage and
in-process figures belong under the headline as a breakdown, printed by the
benchmark itself.

`TFSTUDIO_BENCH_QUICK=1` (what `scripts/bench.sh --quick` sets) asks every
benchmark for fewer rounds and smaller sizes: `rounds(full)` and `pick(full,
quick)`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

RESULT_PREFIX = "BENCH-RESULT "
"""Marks the line `run_all.py` reads; everything else a benchmark prints is for people."""
MIN_ROUNDS = 7
"""The rule's floor for a headline: seven paired rounds (fewer only in quick mode)."""
QUICK = os.environ.get("TFSTUDIO_BENCH_QUICK") == "1"


def rounds(full: int = MIN_ROUNDS, quick: int = 3) -> int:
    """Returns the number of paired rounds: `full` (at least 7), or `quick` in quick mode."""
    return quick if QUICK else max(full, MIN_ROUNDS)


def pick(full: T, quick: T) -> T:
    """Returns `quick` in quick mode, else `full` (sizes, sample counts)."""
    return quick if QUICK else full


def load() -> str:
    """Returns the machine's load averages and CPU count, e.g. 'load 2.1/1.8/1.5 on 2 CPUs'."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}/{fifteen:.1f} on {os.cpu_count()} CPUs"


def wall(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    check: bool = True,
) -> float:
    """Runs `argv` as a whole process (output discarded) and returns its wall seconds.

    Raises SystemExit with the command's stderr when it fails and `check` is set.
    """
    started = time.perf_counter()
    proc = subprocess.run(
        list(argv),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(env) if env is not None else None,
        cwd=cwd,
    )
    elapsed = time.perf_counter() - started
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-2000:]!r}")
    return elapsed


@dataclass(frozen=True)
class Paired:
    """Seconds of each side per round; round i of `ours` pairs with round i of `anchor`."""

    ours: list[float]
    anchor: list[float]

    @property
    def ratios(self) -> list[float]:
        return [o / a for o, a in zip(self.ours, self.anchor, strict=True)]

    def spread(self) -> tuple[float, float, float]:
        """Returns (min, median, max) of the per-round ratio ours / anchor."""
        r = self.ratios
        return min(r), statistics.median(r), max(r)


def paired_rounds(
    ours: Callable[[], float],
    anchor: Callable[[], float],
    n: int,
    *,
    names: tuple[str, str] = ("ours", "anchor"),
    between: Callable[[], None] | None = None,
) -> Paired:
    """Runs `n` rounds of both timers, the anchor first in even rounds and ours first in odd.

    Each callable returns the seconds it measured. `between` (clean-up) runs after
    each side. Prints one line per round. Returns the paired seconds.
    """
    mine: list[float] = []
    theirs: list[float] = []
    for i in range(n):
        order = ("anchor", "ours") if i % 2 == 0 else ("ours", "anchor")
        for side in order:
            (theirs if side == "anchor" else mine).append((anchor if side == "anchor" else ours)())
            if between is not None:
                between()
        print(
            f"  round {i + 1}/{n} ({order[0]} first): {names[0]} {mine[-1]:.3f} s, "
            f"{names[1]} {theirs[-1]:.3f} s, ratio {mine[-1] / theirs[-1]:.2f}",
            flush=True,
        )
    return Paired(mine, theirs)


def verdict(median: float, goal: float | None) -> str:
    """Returns 'met' or 'not met' for a ratio goal (at most `goal`), or 'info' with none."""
    if goal is None:
        return "info"
    return "met" if median <= goal else "not met"


def report(
    bench: str,
    measure: str,
    anchor: str,
    goal: float | None,
    paired: Paired,
    *,
    note: str = "",
) -> None:
    """Prints the headline (both sides' times, the ratio spread, the load) and its result line.

    `goal` is the most the median ratio ours / anchor may be (None: printed, no goal).
    """
    lo, med, hi = paired.spread()
    state = verdict(med, goal)
    n = len(paired.ratios)
    for label, values in ((measure, paired.ours), (anchor, paired.anchor)):
        print(
            f"  {label}: min {min(values):.3f} s, median {statistics.median(values):.3f} s, "
            f"max {max(values):.3f} s ({n} rounds)"
        )
    goal_text = f"<= {goal:g}x" if goal is not None else "none"
    print(
        f"  ratio {lo:.2f} / {med:.2f} / {hi:.2f}x (min / median / max, goal {goal_text}): "
        f"{state.upper()}; {load()}"
    )
    emit(
        bench=bench,
        measure=measure,
        anchor=anchor,
        goal=goal_text,
        figure=f"{lo:.2f} / {med:.2f} / {hi:.2f}x",
        verdict=state,
        rounds=n,
        ours_median_s=round(statistics.median(paired.ours), 4),
        anchor_median_s=round(statistics.median(paired.anchor), 4),
        note=note,
    )


def report_value(
    bench: str,
    measure: str,
    anchor: str,
    goal: str,
    figure: str,
    met: bool | None,
    *,
    note: str = "",
) -> None:
    """Prints and records a headline that is not a paired ratio (an absolute goal, a count).

    `met` None means the figure has no goal ('info').
    """
    state = "info" if met is None else ("met" if met else "not met")
    print(f"  {measure}: {figure} (anchor {anchor}, goal {goal}): {state.upper()}; {load()}")
    emit(
        bench=bench,
        measure=measure,
        anchor=anchor,
        goal=goal,
        figure=figure,
        verdict=state,
        note=note,
    )


def emit(**fields: object) -> None:
    """Prints one result line for `run_all.py`, with the load at the moment it was taken."""
    print(RESULT_PREFIX + json.dumps({**fields, "load": load()}), flush=True)
