"""Logs stream while a job runs, following ends with the job, and a follower can be cancelled."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.training.conftest import BUSYBOX, start, tfstudio
from tfstudio.training.client import EngineClient, connect
from tfstudio.training.engines import local_engine
from tfstudio.training.jobs import find_job, list_jobs, refresh, wait_job
from tfstudio.training.logs import LogFollower, LogLine, read_logs

GATED = ["sh", "-c", "echo epoch 1; while [ ! -f go ]; do sleep 0.05; done; echo epoch 2; exit 7"]
"""Prints a line, then waits until the test creates `go` in the workspace."""
FOREVER = ["sh", "-c", "echo ready; while :; do sleep 0.1; done"]


_SPAWNED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_orphans() -> Iterator[None]:
    # A failed assertion must not leave a CLI following (and launching) behind
    # the per-test container clean-up.
    yield
    while _SPAWNED:
        proc = _SPAWNED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def spawn(argv: list[str], **kwargs: object) -> subprocess.Popen[str]:
    """Starts the CLI (or any `argv`) with text pipes, in the repository."""
    proc = subprocess.Popen(  # type: ignore[call-overload]
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, **kwargs
    )
    _SPAWNED.append(proc)
    return proc  # type: ignore[no-any-return]


def train_argv(workspace: Path, command: list[str]) -> list[str]:
    """`tfstudio train` of `command` in the busybox image, as a user types it."""
    return [
        sys.executable,
        "-m",
        "tfstudio",
        "train",
        "--image",
        BUSYBOX,
        "--gpus",
        "none",
        "--workspace",
        str(workspace),
        "--",
        *command,
    ]


def test_lines_arrive_while_the_job_runs_and_following_ends_with_it(
    client: EngineClient, workspace: Path
) -> None:
    result = start(client, workspace, GATED)
    lines: list[LogLine] = []
    ended: list[object] = []
    first = threading.Event()

    def on_line(line: LogLine) -> None:
        lines.append(line)
        first.set()

    follower = LogFollower(client, result.job, on_line, on_end=ended.append).start()
    assert first.wait(30)
    assert [line.text for line in lines] == ["epoch 1"]
    assert refresh(client, result.job).running and not follower.done
    (workspace / "go").touch()
    assert follower.wait(30)
    assert [line.text for line in lines] == ["epoch 1", "epoch 2"]
    assert ended == [None] and follower.error is None
    assert wait_job(client, result.job, timeout_s=30).exit_code == 7
    assert read_logs(client, result.job, tail=1) == ["epoch 2"]


def test_followers_of_several_jobs_stop_at_once_from_another_thread(
    client: EngineClient, workspace: Path
) -> None:
    followers = []
    for _ in range(3):
        seen = threading.Event()
        job = start(client, workspace, FOREVER).job
        followers.append((LogFollower(client, job, lambda _l, s=seen: s.set()).start(), seen))
    for _, seen in followers:
        assert seen.wait(30)
    began = time.monotonic()
    stoppers = [threading.Thread(target=f.stop) for f, _ in followers]
    for thread in stoppers:
        thread.start()
    for thread in stoppers:
        thread.join()
    assert time.monotonic() - began < 3
    assert all(f.done and f.error is None for f, _ in followers)
    assert all(j.running for j in list_jobs(client, stats=False))  # the jobs go on


def test_cli_logs_follow_ends_with_the_job(client: EngineClient, workspace: Path) -> None:
    result = start(client, workspace, GATED)
    proc = spawn([sys.executable, "-m", "tfstudio", "logs", "-f", result.job.job_id])
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "epoch 1"
    assert proc.poll() is None  # still following the running job
    (workspace / "go").touch()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.strip() == "epoch 2"
    tail = tfstudio("logs", result.job.job_id, "--tail", "1")
    assert tail.stdout.strip() == "epoch 2"


def test_train_streams_logs_and_exits_with_the_jobs_code(workspace: Path, docker_api) -> None:
    proc = spawn(train_argv(workspace, GATED))
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "epoch 1"
    assert proc.poll() is None
    (workspace / "go").touch()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 7, err
    assert out.strip() == "epoch 2"
    assert "ended: exit 7" in err and "provenance:" in err


def _pty_train(workspace: Path) -> tuple[subprocess.Popen[bytes], int]:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        train_argv(workspace, FOREVER),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=REPO,
        start_new_session=True,
        preexec_fn=_take_terminal,
    )
    _SPAWNED.append(proc)
    os.close(slave)
    return proc, master


def _take_terminal() -> None:
    # A new session whose controlling terminal is the pty: Ctrl-C then becomes SIGINT.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _read_until(master: int, text: str, timeout: float = 60) -> str:
    seen = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        assert time.monotonic() < deadline, f"no {text!r} in {seen!r}"
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                seen += os.read(master, 4096)
            except OSError:  # the process ended and closed the terminal
                break
    assert text.encode() in seen, f"no {text!r} in {seen!r}"
    return seen.decode(errors="replace")


@pytest.mark.parametrize("answer", ["y", "n"])
def test_ctrl_c_asks_whether_to_stop(workspace: Path, answer: str, docker_api) -> None:
    proc, master = _pty_train(workspace)
    try:
        seen = _read_until(master, "ready")
        os.write(master, b"\x03")  # Ctrl-C, as the terminal sends it
        seen += _read_until(master, "stop job")
        os.write(master, f"{answer}\n".encode())
        rest = seen + _read_until(master, "ended" if answer == "y" else "keeps running")
        code = proc.wait(60)
    finally:
        os.close(master)
    with connect(local_engine()) as client:
        job = list_jobs(client, stats=False)[0]
        if answer == "y":
            assert code == 143 and not job.running and job.exit_code == 143, rest
        else:
            assert code == 130 and job.running
            assert find_job(client, job.job_id).running


def test_ctrl_c_without_a_terminal_leaves_the_job_running(workspace: Path, docker_api) -> None:
    proc = spawn(train_argv(workspace, FOREVER), stdin=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "keeps running" in err and "Traceback" not in err
    with connect(local_engine()) as client:
        assert [j.running for j in list_jobs(client, stats=False)] == [True]


LONG_LINE = ["sh", "-c", "head -c 20000000 /dev/zero | tr '\\0' a; echo; echo after"]
"""One 20 MB line (no newline for 20 MB), then a short one."""


@pytest.mark.slow
def test_a_huge_line_is_cut_and_said_so_while_following(
    client: EngineClient, workspace: Path
) -> None:
    from tfstudio.training.logs import MAX_LINE_BYTES

    result = start(client, workspace, LONG_LINE)
    assert wait_job(client, result.job, timeout_s=120).exit_code == 0
    for argv in (["logs", "-f"], ["logs"]):
        proc = spawn([sys.executable, "-m", "tfstudio", *argv, result.job.job_id])
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        first, second = out.splitlines()
        assert first.startswith("a" * MAX_LINE_BYTES), argv
        assert first.endswith(" [line cut at 1.0 MiB: 18.1 MiB more not shown]"), first[-80:]
        assert second == "after"


def _reference_lines(chunks: list[bytes]) -> list[str]:
    """The line splitting as it was before lines were capped (and rescanned each frame)."""
    out, pending = [], b""
    for chunk in chunks:
        pending += chunk
        while True:
            nl, cr = pending.find(b"\n"), pending.find(b"\r")
            if cr < 0 or (0 <= nl < cr):
                cut = None if nl < 0 else (nl, nl + 1)
            elif cr + 1 == len(pending):
                cut = None
            else:
                cut = (cr, cr + 2) if pending[cr + 1 : cr + 2] == b"\n" else (cr, cr + 1)
            if cut is None:
                break
            out.append(pending[: cut[0]].decode("utf-8", "replace"))
            pending = pending[cut[1] :]
    if pending.rstrip(b"\r"):
        out.append(pending.rstrip(b"\r").decode("utf-8", "replace"))
    return out


def test_lines_split_across_frames_as_before() -> None:
    import random

    from tfstudio.training.logs import _lines

    rng = random.Random(0)
    for _ in range(5000):
        data = bytes(rng.choice(b"ab\r\n\xc3\xa9") for _ in range(rng.randint(0, 60)))
        cuts = sorted(rng.sample(range(len(data) + 1), min(len(data) + 1, rng.randint(0, 6))))
        chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
        assert list(_lines(iter(chunks))) == _reference_lines(chunks), chunks


def test_a_long_line_over_many_frames_is_cut_once_and_the_next_line_kept() -> None:
    from tfstudio.training.logs import MAX_LINE_BYTES, _lines

    # 3 MiB in 64 KiB frames, ended by a "\r" alone at the end of a frame: the
    # "\r" must still end the line once the next frame shows it is not "\r\n".
    frames = [b"a" * 65536] * 48 + [b"\r", b"next\n", b"b" * (MAX_LINE_BYTES + 10)]
    first, second, third = _lines(iter(frames))
    assert first == "a" * MAX_LINE_BYTES + " [line cut at 1.0 MiB: 2.0 MiB more not shown]"
    assert second == "next"
    assert third == "b" * MAX_LINE_BYTES + " [line cut at 1.0 MiB: 10 bytes more not shown]"
