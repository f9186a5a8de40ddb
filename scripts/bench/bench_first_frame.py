"""Benchmark: time to the first frame of `tfstudio` vs a bare Textual app, under tmux.

Both run the same way: a detached tmux session of 80x24 starts the program,
and the clock stops when `capture-pane` first shows the program's marker text
(polled every 5 ms). The bare app is what the issue names as the anchor: a
Textual app with a Header, a DataTable and a Footer. `python -c 'import
tensorflow'` is timed too, for scale. Runs alternate; medians, bests and the
ratios tfstudio/bare are printed (goal: at most 1.25x). On a machine shared with
other work the best-of-N ratio is the steadier figure.

    .venv/bin/python scripts/bench/bench_first_frame.py [--runs 7]
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


def first_frame(command: str, marker: str, env: dict[str, str]) -> float:
    """Seconds from starting `command` in tmux until `marker` is on screen."""
    session = f"ff-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", command, check=True, env=env)
    try:
        deadline = started + 60
        while time.perf_counter() < deadline:
            screen = tmux("capture-pane", "-p", "-t", session, capture_output=True).stdout
            if marker in screen:
                return time.perf_counter() - started
            time.sleep(POLL_S)
        raise SystemExit(f"{marker!r} never appeared for: {command}")
    finally:
        tmux("kill-session", "-t", session, capture_output=True)


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    tmux("new-session", "-d", "-s", "keeper", "sleep 3600", check=True)
    try:
        run(args.runs)
    finally:
        tmux("kill-server", capture_output=True)


def run(runs: int) -> None:
    """Measures and prints."""
    with tempfile.TemporaryDirectory(prefix="tfstudio-ff-") as tmp:
        bare = Path(tmp) / "bare_app.py"
        bare.write_text(BARE_APP)
        home = Path(tmp) / "home"
        env = {**os.environ, "TERM": "xterm-256color", "TFSTUDIO_HOME": str(home)}
        exe = REPO / ".venv" / "bin" / "tfstudio"
        studio_cmd = f"env TFSTUDIO_HOME={home} {exe}"
        bare_cmd = f"{sys.executable} {bare}"
        # The first frame of tfstudio shows its panes' titles; the bare app its title.
        cases = {"tfstudio": (studio_cmd, "Devices"), "bare": (bare_cmd, "bare-anchor")}
        for command, marker in cases.values():  # warm the file cache for both
            first_frame(command, marker, env)
        times: dict[str, list[float]] = {name: [] for name in cases}
        tf_times = []
        for _ in range(runs):
            for name, (command, marker) in cases.items():
                times[name].append(first_frame(command, marker, env))
        for _ in range(max(3, runs // 2)):
            tf_times.append(import_tensorflow())
    studio, anchor = (statistics.median(times[n]) for n in ("tfstudio", "bare"))
    best_studio, best_anchor = (min(times[n]) for n in ("tfstudio", "bare"))
    tf = statistics.median(tf_times)
    for name, median, best in (
        ("tfstudio first frame         ", studio, best_studio),
        ("bare Textual app first frame ", anchor, best_anchor),
    ):
        print(f"{name} median {median * 1000:6.0f} ms, best {best * 1000:6.0f} ms over {runs} runs")
    print(f"python -c 'import tensorflow' median {tf * 1000:6.0f} ms")
    # The best of each is the least disturbed by other load on the machine.
    ratios = f"median {studio / anchor:.2f}x, best {best_studio / best_anchor:.2f}x"
    print(f"ratio tfstudio/bare: {ratios} (goal <= 1.25x)")
    print(f"ratio tfstudio/import tensorflow: {studio / tf:.2f}x")


if __name__ == "__main__":
    main()
