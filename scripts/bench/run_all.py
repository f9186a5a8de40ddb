"""Runs every benchmark and prints ONE table of their headlines (what `scripts/bench.sh` runs).

Each `scripts/bench/bench_*.py` runs as its own process, its output shown as it
comes; the `BENCH-RESULT` lines it prints (`paired.py`) become the table's rows:
measure, anchor, goal, ratio (min / median / max), verdict. A benchmark that
fails, times out or prints no result line gets a row that says so: nothing
vanishes from the table. `--write-docs` puts the same table, with the machine,
its load and the date, between the markers in docs/benchmarks.md.

    .venv/bin/python scripts/bench/run_all.py [--quick] [--write-docs] [--only help,deploy_big]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DOCS = REPO / "docs" / "benchmarks.md"
START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"
PREFIX = "BENCH-RESULT "
TIMEOUT_S = {"quick": 900, "full": 3600}
"""Per benchmark: a hung one becomes a 'timed out' row instead of stopping the run."""
COLUMNS = ("benchmark", "measure", "anchor", "goal", "ratio min / median / max", "verdict", "run")
"""`run`: quick or full, and the machine's 1-minute load when the figure was taken."""
KEYS = ("bench", "measure", "anchor", "goal", "figure", "verdict", "run")
"""The result line's field shown in each column."""


def run_one(script: Path, quick: bool) -> list[dict[str, object]]:
    """Runs one benchmark, echoing its output; returns its result rows (or one failure row)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its bytecode
    if quick:
        env["TFSTUDIO_BENCH_QUICK"] = "1"
    name = script.stem.removeprefix("bench_")
    print(f"== {script.relative_to(REPO)} ({'quick' if quick else 'full'})", flush=True)
    rows: list[dict[str, object]] = []
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        env=env,
    )
    assert proc.stdout is not None
    timeout = TIMEOUT_S["quick" if quick else "full"]
    timed_out = False
    for line in proc.stdout:
        if line.startswith(PREFIX):
            rows.append(json.loads(line[len(PREFIX) :]))
        else:
            print("   " + line, end="", flush=True)
        if time.monotonic() - started > timeout:
            proc.kill()
            timed_out = True
            break
    code = proc.wait()
    print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
    if timed_out or code != 0 or not rows:
        why = "timed out" if timed_out else (f"failed (exit {code})" if code else "no result line")
        failed: dict[str, object] = dict.fromkeys(("measure", "anchor", "goal", "figure"), "")
        rows.append({**failed, "verdict": why})
    for row in rows:
        row.setdefault("bench", name)
        one = str(row.get("load", "")).removeprefix("load ").split("/")[0]
        row["run"] = f"{'quick' if quick else 'full'}, load {one}" if one else ""
    return rows


def table(rows: list[dict[str, object]]) -> str:
    """Returns the rows as one markdown table."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for row in rows:
        cells = [str(row.get(k, "")) for k in KEYS]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def machine(loads: list[str], quick: bool) -> str:
    """Returns one line naming the machine, the load seen during the run, the date and the mode."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    cpu = platform.processor() or platform.machine()
    one = [float(x.split()[1].split("/")[0]) for x in loads if x.startswith("load ")]
    seen = f"1-min load {min(one):.1f} to {max(one):.1f}" if one else "load not recorded"
    return (
        f"{platform.node()} ({cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}); "
        f"{seen} during the run; {datetime.date.today().isoformat()}; commit {commit}; "
        f"{'quick mode (3 rounds, small sizes)' if quick else 'full mode'}"
    )


def write_docs(about: str, rows: list[dict[str, object]], only: set[str]) -> None:
    """Replaces the table between the markers in docs/benchmarks.md.

    With `only`, the other benchmarks' rows (and the line about their run) are kept,
    and a line about this run is added, so a rerun of a few updates just their rows.
    """
    doc = DOCS.read_text()
    head, rest = doc.split(START, 1)
    old, tail = rest.split(END, 1)
    abouts = [about]
    if only:
        kept = [ln for ln in old.strip().splitlines() if ln.startswith("| ")][1:]  # no header
        kept = [ln for ln in kept if ln.split("|")[1].strip() not in {*only, "---"}]
        earlier = [ln for ln in old.strip().splitlines() if ln and not ln.startswith("|")]
        earlier = [ln for ln in earlier if not _rerun_of(ln) or not _rerun_of(ln) <= only]
        abouts = [*earlier, f"{about} (rerun: {', '.join(sorted(only))})"]
        lines = table(rows).splitlines()
        body = sorted([*kept, *lines[2:]], key=lambda ln: ln.split("|")[1].strip())
        text = "\n".join([*lines[:2], *body])
    else:
        text = table(rows)
    DOCS.write_text(f"{head}{START}\n" + "\n\n".join(abouts) + f"\n\n{text}\n{END}{tail}")


def _rerun_of(about: str) -> set[str]:
    """The benchmarks an earlier partial run's line names (empty for a whole run)."""
    _, found, names = about.rpartition("(rerun: ")
    return {n.strip() for n in names.rstrip(")").split(",")} if found else set()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller sizes")
    parser.add_argument("--write-docs", action="store_true", help="write the table into the docs")
    parser.add_argument("--only", default="", help="comma-separated names, e.g. help,deploy_big")
    args = parser.parse_args()
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    scripts = [
        s
        for s in sorted(HERE.glob("bench_*.py"))
        if not only or s.stem.removeprefix("bench_") in only
    ]
    # As a user's install is: compiled once, so no run pays for compiling the sources
    # (this environment may set PYTHONDONTWRITEBYTECODE, which would charge every run).
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "tfstudio", "edge_agent", "scripts/bench"],
        cwd=REPO,
        check=False,
    )
    rows: list[dict[str, object]] = []
    for script in scripts:
        rows.extend(run_one(script, args.quick))
    text = table(rows)
    about = machine([str(r.get("load", "")) for r in rows], args.quick)
    print()
    print(about)
    print(text)
    if args.write_docs:
        write_docs(about, rows, only)
        print(f"\nwritten to {DOCS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
