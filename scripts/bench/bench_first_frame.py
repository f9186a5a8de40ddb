"""Benchmark: time to the first usable frame of `tfstudio` vs a bare Textual app, under tmux.

Both run the same way: a detached tmux session of 80x24 starts the program (the
`tfstudio` console script a user types; the bare app as `python bare_app.py`),
and the clock stops when `capture-pane` first shows a frame the user can act on:
the footer with its key bindings drawn (polled every 5 ms). For tfstudio that is
"q Quit" and "^p palette" in its footer; for the bare app (a Textual app with a
Header, a DataTable and a Footer) its footer's "^p palette". The first paint
(a pane title, before the footer) is printed as a breakdown. Paired rounds,
alternating order (`paired.py`); goal: at most 1.25x.

    .venv/bin/python scripts/bench/bench_first_frame.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from paired import load, paired_rounds, report, rounds

REPO = Path(__file__).resolve().parents[2]
BARE_APP = """
from textual.app import App
from textual.widgets import DataTable, Footer, Header

class Bare(App):
    TITLE = "bare-anchor"
    def compose(self):
        yield Header()
        yield DataTable()
        yield Footer()
    def on_mount(self):
        table = self.query_one(DataTable)
        table.add_columns("device", "online", "p50")
        table.add_row("local", "yes", "0.020")

Bare().run()
"""
POLL_S = 0.005
SOCKET = f"tfstudio-bench-{os.getpid()}"
"""A private tmux server: the benchmark never touches anyone else's sessions, and a
keeper session keeps the server up between runs (a server that exits and restarts
between two runs races with the next `new-session`)."""


def tmux(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Runs a tmux command on the benchmark's own server."""
    return subprocess.run(["tmux", "-L", SOCKET, *args], text=True, **kwargs)  # type: ignore[call-overload,no-any-return]


def first_frame(command: str, markers: tuple[str, ...], env: dict[str, str]) -> float:
    """Seconds from starting `command` in tmux until every marker is on screen at once.

    Notes the first time the first marker alone showed in FIRST_PAINT.
    """
    session = f"ff-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", command, check=True, env=env)
    painted = None
    try:
        deadline = started + 60
        while time.perf_counter() < deadline:
            screen = tmux("capture-pane", "-p", "-t", session, capture_output=True).stdout
            now = time.perf_counter() - started
            if painted is None and markers[0] in screen:
                painted = now
            if all(m in screen for m in markers):
                FIRST_PAINT.setdefault(command, []).append(painted or now)
                return now
            time.sleep(POLL_S)
        raise SystemExit(f"{markers!r} never appeared for: {command}")
    finally:
        tmux("kill-session", "-t", session, capture_output=True)


FIRST_PAINT: dict[str, list[float]] = {}
"""Per command: seconds to its first marker (a first paint, usable or not)."""


def import_tensorflow() -> float:
    """Seconds for a fresh `python -c 'import tensorflow'`."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import tensorflow"],
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    tmux("new-session", "-d", "-s", "keeper", "sleep 3600", check=True)
    try:
        run()
    finally:
        tmux("kill-server", capture_output=True)


def run() -> None:
    """Measures and prints."""
    with tempfile.TemporaryDirectory(prefix="tfstudio-ff-") as tmp:
        bare = Path(tmp) / "bare_app.py"
        bare.write_text(BARE_APP)
        home = Path(tmp) / "home"
        env = {**os.environ, "TERM": "xterm-256color", "TFSTUDIO_HOME": str(home)}
        exe = Path(sys.executable).with_name("tfstudio")
        studio_cmd = f"env TFSTUDIO_HOME={home} PYTHONPATH={REPO} {exe}"
        bare_cmd = f"{sys.executable} {bare}"
        studio_marks = ("Devices", "q Quit", "^p palette")
        bare_marks = ("bare-anchor", "^p palette")
        first_frame(studio_cmd, studio_marks, env)  # warm the file cache for both
        first_frame(bare_cmd, bare_marks, env)
        FIRST_PAINT.clear()
        print(f"usable first frame (footer and bindings drawn), 80x24 tmux ({load()})")
        paired = paired_rounds(
            lambda: first_frame(studio_cmd, studio_marks, env),
            lambda: first_frame(bare_cmd, bare_marks, env),
            rounds(7, 3),
            names=("tfstudio", "bare app"),
        )
        report("first_frame", "tfstudio usable first frame", "bare Textual app", 1.25, paired)
        tf = import_tensorflow()
    ours, theirs = FIRST_PAINT[studio_cmd], FIRST_PAINT[bare_cmd]
    print(
        f"  breakdown: first paint (a title, footer or not) median {statistics.median(ours):.3f} s "
        f"vs bare {statistics.median(theirs):.3f} s; python -c 'import tensorflow' {tf:.2f} s"
    )


if __name__ == "__main__":
    main()
