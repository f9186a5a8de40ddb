"""The real entry point in a real terminal (tmux), and what the app's start imports.

- `tfstudio` with no arguments in a terminal opens the UI: navigate with keys,
  open help, quit with q, exit code 0.
- Without a terminal it prints the help instead (scripts and CI never hang).
- The app's first frame loads neither tensorflow, docker nor paramiko (and the
  dashboard's reads after it load neither tensorflow nor paramiko).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.tui.conftest import NO_DOCKER

TFSTUDIO = REPO / ".venv" / "bin" / "tfstudio"


def _tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", *args], check=True, capture_output=True, text=True, timeout=30
    ).stdout


def _wait_for_text(session: str, text: str, timeout: float = 60, absent: str = "") -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux("capture-pane", "-p", "-t", session)
        if text in screen and not (absent and absent in screen):
            return screen
        time.sleep(0.2)
    pytest.fail(f"{text!r} never showed; the screen was:\n{screen}")


@pytest.fixture
def tmux_session(studio_home: Path, tmp_path: Path):
    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing: apt-get install tmux (scripts/prepare-test-env.sh does)")
    session = f"tfstudio-test-{uuid.uuid4().hex[:8]}"
    rc_file = tmp_path / "rc"
    exe = str(TFSTUDIO) if TFSTUDIO.exists() else f"{sys.executable} -m tfstudio"
    command = (
        # PYTHONPATH: the tree under test, whatever the venv's editable install points at.
        f"env TFSTUDIO_HOME={studio_home} DOCKER_HOST={NO_DOCKER} TERM=xterm-256color "
        f"PYTHONPATH={REPO} {exe}; echo $? > {rc_file}"
    )
    _tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", command)
    try:
        yield session, rc_file
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)


def test_tfstudio_opens_the_ui_navigates_shows_help_and_quits(tmux_session) -> None:
    session, rc_file = tmux_session
    screen = _wait_for_text(session, "press d for the demo")
    assert "Models" in screen and "local" in screen
    _tmux("send-keys", "-t", session, "6")
    screen = _wait_for_text(session, "i Install")
    assert "[6 Devices]" in screen and "c Check" in screen
    _tmux("send-keys", "-t", session, "?")
    screen = _wait_for_text(session, "tfstudio keys")
    assert "ctrl+p" in screen
    _tmux("send-keys", "-t", session, "Escape")
    # A key sent right after Escape would arrive as Alt+key: let the escape delay pass.
    _wait_for_text(session, "i Install", absent="tfstudio keys")
    _tmux("send-keys", "-t", session, "1")
    _wait_for_text(session, "d Demo")
    _tmux("send-keys", "-t", session, "q")
    deadline = time.monotonic() + 30
    while not rc_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert rc_file.exists(), _tmux("capture-pane", "-p", "-t", session)
    assert rc_file.read_text().strip() == "0"


def test_without_a_terminal_tfstudio_prints_help(studio_home: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tfstudio"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "usage: tfstudio" in proc.stdout and "ui" in proc.stdout


def test_ui_command_without_a_terminal_is_one_line(studio_home: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tfstudio", "ui"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "tfstudio: error: the terminal UI needs a terminal (run it in a terminal, "
        "or use the subcommands (tfstudio --help))"
    ]


def test_first_frame_imports_no_heavy_module(studio_home: Path) -> None:
    code = textwrap.dedent(
        """
        import asyncio, json, sys
        from tfstudio.studio import Studio
        from tfstudio.tui import make_app

        HEAVY = {"tensorflow", "keras", "docker", "paramiko"}

        def heavy():
            return sorted({m.split(".")[0] for m in sys.modules} & HEAVY)

        async def main():
            app = make_app(Studio())
            async with app.run_test(size=(80, 24)) as pilot:
                first = heavy()  # the first frame is drawn; the reads start after it
                await pilot.pause(0.5)
                await app.workers.wait_for_complete()
                await pilot.pause(0.2)
                rows = app.screen.query_one("#devices").row_count
            print(json.dumps({"first": first, "later": heavy(), "devices": rows}))

        asyncio.run(main())
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["devices"] == 1  # the dashboard drew the built-in `local` device
    assert found["first"] == []
    # The Jobs pane asks the engine after the first frame (docker, on first use);
    # nothing reads TensorFlow, and the local engine needs no SSH.
    assert set(found["later"]) <= {"docker"}


CAPTURES = REPO / "out" / "captures"
"""Plain captures of the real UI at 80x24 (git-ignored), for reading without running it."""


def _capture(session: str, name: str) -> str:
    screen = _tmux("capture-pane", "-p", "-t", session)
    CAPTURES.mkdir(parents=True, exist_ok=True)
    (CAPTURES / name).write_text(screen)
    return screen


def _rows(screen: str, word: str) -> list[str]:
    return [line for line in screen.splitlines() if f" {word} " in f"{line} "]


def test_a_plain_capture_reads_ticks_fields_and_the_device_form(tmux_session) -> None:
    """tmux capture-pane without -e: no colour at all. Ticked and unticked boxes differ,
    the view keys are on screen, a focused field and the device form's last field read
    as typed; keys typed fast after Tab land in the next field."""
    session, rc_file = tmux_session
    screen = _wait_for_text(session, "press d for the demo")
    assert "[1 Dashboard]" in screen and "7 Pipeline" in screen and "? Help" in screen
    _capture(session, "dashboard-80x24.txt")

    _tmux("send-keys", "-t", session, "3")
    screen = _wait_for_text(session, "[3 Convert]")
    screen = _wait_for_text(session, "float32")
    (ticked,) = _rows(screen, "float32")
    (unticked,) = _rows(screen, "dynamic")
    assert "▐X▌" in ticked and "▐ ▌" in unticked, screen
    _tmux("send-keys", "-t", session, "Tab")  # from the results to the first field
    _tmux("send-keys", "-t", session, "-l", "/data/exports/digits/3")
    screen = _wait_for_text(session, "exports/digits/3")  # the field scrolls to its end
    _capture(session, "convert-field-focused-80x24.txt")
    _tmux("send-keys", "-t", session, "Escape")
    time.sleep(0.5)  # a key right after Escape would arrive as Alt+key

    _tmux("send-keys", "-t", session, "6")
    _wait_for_text(session, "[6 Devices]")
    _tmux("send-keys", "-t", session, "a")
    _wait_for_text(session, "Add a device reached over SSH")
    # All at once, as a fast typist or a paste does: each Tab moves on before the next key.
    _tmux("send-keys", "-t", session, "pi1", "Tab", "192.0.2.7", "Tab", "2222", "Tab", "pi",
          "Tab", "Tab", "python3.11", "Tab", "/opt/agent")  # fmt: skip
    screen = _wait_for_text(session, "/opt/agent")
    typed = [("name", "pi1"), ("host", "192.0.2.7"), ("port", "2222"), ("user", "pi"),
             ("python", "python3.11"), ("home", "/opt/agent")]  # fmt: skip
    for label, value in typed:
        (line,) = _rows(screen, label)
        assert value in line, (label, screen)
    assert "Add (ctrl+r)" in screen and "Cancel (esc)" in screen
    assert "^r Add" in screen and "^r Save" not in screen  # the footer says it the same way
    _capture(session, "add-device-last-field-80x24.txt")
    _tmux("send-keys", "-t", session, "Escape")
    time.sleep(0.5)
    _tmux("send-keys", "-t", session, "q")
    deadline = time.monotonic() + 30
    while not rc_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert rc_file.read_text().strip() == "0"
