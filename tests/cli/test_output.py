"""The CLI's tables and progress: rich on a terminal, plain stable text anywhere else."""

from __future__ import annotations

import io

from tfstudio.cli.output import print_table
from tfstudio.cli.progress import EventPrinter
from tfstudio.operations import Stage, StageStarted, TargetFinished, TransferTick


class Terminal(io.StringIO):
    """A text stream that says it is a terminal (what rich and the CLI look at)."""

    def isatty(self) -> bool:
        return True


HEADERS = ["device", "result", "p99_ms"]
ROWS = [["pi-1", "ok", 1.23456], ["jetson", "failed", None]]


def test_a_table_is_plain_text_when_not_a_terminal() -> None:
    out = io.StringIO()
    print_table(HEADERS, ROWS, file=out)
    assert out.getvalue().splitlines() == [
        "device  result  p99_ms",
        "------  ------  ------",
        "pi-1    ok       1.235",
        "jetson  failed       -",
    ]


def test_a_table_is_drawn_by_rich_on_a_terminal() -> None:
    out = Terminal()
    print_table(HEADERS, [*ROWS, ["[bold]x", "ok", 2.0]], file=out)
    text = out.getvalue()
    assert "\x1b[" in text and "─" in text  # styled header and rich's rule
    assert "------" not in text
    assert "pi-1" in text and "1.235" in text and "jetson" in text
    assert "[bold]x" in text  # values are shown as they are, never read as markup


def _events() -> list[object]:
    return [
        StageStarted("deploy", "pi-1", Stage.CONNECT, "connecting"),
        TransferTick("deploy", "pi-1", 0, 2048, 0.0, None),
        TransferTick("deploy", "pi-1", 1024, 2048, 1024.0, 1.0),  # too soon: not printed
        TransferTick("deploy", "pi-1", 2048, 2048, 2048.0, 0.0),  # the last always is
        StageStarted("deploy", "pi-1", Stage.DONE, "done"),
        TargetFinished("deploy", "pi-1", True, "ok"),
    ]


def test_progress_is_sparse_plain_lines_when_not_a_terminal() -> None:
    err = io.StringIO()
    with EventPrinter(err) as progress:
        for event in _events():
            progress(event)  # type: ignore[arg-type]
    lines = err.getvalue().splitlines()
    assert lines[0] == "pi-1: connecting"
    assert len(lines) == 3, lines
    assert lines[1].startswith("pi-1: [........................]   0% 0 B/2.0 KiB")
    assert "100%" in lines[2] and "2.0 KiB/2.0 KiB" in lines[2] and "/s ETA 0s" in lines[2]


def test_progress_is_rich_bars_on_a_terminal_and_nothing_when_disabled() -> None:
    err = Terminal()
    with EventPrinter(err) as progress:
        for event in _events():
            progress(event)  # type: ignore[arg-type]
    text = err.getvalue()
    assert "pi-1: connecting" in text
    assert "[####" not in text  # the plain bar is for logs only
    quiet = io.StringIO()
    with EventPrinter(quiet, enabled=False) as progress:
        for event in _events():
            progress(event)  # type: ignore[arg-type]
    with EventPrinter(quiet, plain=False) as progress:  # terminal-only progress (bench)
        for event in _events():
            progress(event)  # type: ignore[arg-type]
    assert quiet.getvalue() == ""
