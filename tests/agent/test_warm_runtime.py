"""The warm runtime (edge_agent.warm): one process per agent home that imported numpy and the
runtime, forking each session's runtime child, with crash isolation kept.

Driven through real `session` processes as the studio drives them. What a device would
notice: the second deploy's runtime child imports nothing (its CPU is a fraction of a
cold child's), a runtime that crashes or hangs takes down only that child (the warm
process and the next session are fine), the warm process goes away when idle or when its
home is removed, and it is off with TFSTUDIO_AGENT_WARM=0 or without a private folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.agent.session_client import SessionClient, runtime_children

LOCK = {"id": "deploy-warm0001", "owner": "tester@studio"}
QUICK = {"runs": 5, "warmup": 1, "min_seconds": 0, "warmup_min_seconds": 0}


@pytest.fixture
def sessions(agent_home):
    started: list[SessionClient] = []

    def start(**env: str) -> SessionClient:
        started.append(SessionClient(agent_home, env={"TFSTUDIO_AGENT_WARM_IDLE_S": "60", **env}))
        return started[-1]

    yield start
    for session in started:
        session.kill()
    for pid in warm_processes(agent_home):
        os.kill(pid, 9)


def warm_processes(home: Path) -> list[int]:
    """The warm runtimes serving `home` (not their forked children, which share the
    command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"edge_agent.warm" in words and str(home).encode() in words:
            found.append(int(entry.name))
    alive = [p for p in found if Path(f"/proc/{p}").exists()]
    return [p for p in alive if parent_of(p) not in alive]


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of `pid` so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def install(session: SessionClient, data: bytes, **args: object) -> dict:
    sha = hashlib.sha256(data).hexdigest()
    session.ok("lock", LOCK)
    assert session.upload(data, sha)["ok"]
    path = session.home / "inbox" / f"{sha}.partial"
    return session.call("install", {"path": str(path), "sha256": sha, **args})


def test_a_second_session_forks_a_warm_child_that_imports_nothing(sessions, tiny_models):
    first = sessions()
    assert install(first, tiny_models["float32"].read_bytes())["ok"]
    (child,) = runtime_children(first.pid)
    (warm,) = warm_processes(first.home)
    assert parent_of(child) == warm and parent_of(warm) != first.pid  # nobody's child
    assert first.close() == 0

    second = sessions()
    assert install(second, tiny_models["int8"].read_bytes())["ok"]
    report = second.ok("bench", QUICK)
    assert report["p50_ms"] > 0
    (forked,) = runtime_children(second.pid)
    assert parent_of(forked) == warm and warm_processes(second.home) == [warm]
    warm_cpu = cpu_s(forked)
    assert second.close() == 0

    cold = sessions(TFSTUDIO_AGENT_WARM="0")
    assert install(cold, tiny_models["float16"].read_bytes())["ok"]
    assert cold.ok("bench", QUICK)["p50_ms"] > 0
    (own,) = runtime_children(cold.pid)
    assert parent_of(own) == cold.pid  # turned off: the session's own cold child
    cold_cpu = cpu_s(own)
    # The cold child paid numpy's and the runtime's import; the forked one did not.
    assert warm_cpu < cold_cpu / 2, (warm_cpu, cold_cpu)


def test_a_crash_or_hang_takes_down_only_that_child(sessions, tiny_models):
    warmup = sessions()
    assert install(warmup, tiny_models["float32"].read_bytes())["ok"]
    (warm,) = warm_processes(warmup.home)
    warmup.close()

    crashing = sessions(TFSTUDIO_AGENT_FAULT="validate-crash")
    answer = install(crashing, tiny_models["int8"].read_bytes())
    assert not answer["ok"] and answer["error"]["code"] == "validation_crashed"
    assert "signal SIGSEGV" in answer["error"]["error"]
    crashing.close()

    hanging = sessions(TFSTUDIO_AGENT_FAULT="validate-hang")
    answer = install(hanging, tiny_models["int8"].read_bytes(), timeout=2)
    assert not answer["ok"] and answer["error"]["code"] == "validation_timeout"
    assert runtime_children(hanging.pid) == []  # the hung child was killed
    hanging.close()

    assert warm_processes(warmup.home) == [warm]  # the warm process never noticed
    fine = sessions()
    assert install(fine, tiny_models["int8"].read_bytes())["ok"]
    (child,) = runtime_children(fine.pid)
    assert parent_of(child) == warm


def _gone(pid: int, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() or " Z " in Path(f"/proc/{pid}/stat").read_text():
            return True
        time.sleep(0.1)
    return False


def test_the_warm_runtime_leaves_when_idle_or_its_home_is_gone(sessions, tiny_models):
    idle = sessions(TFSTUDIO_AGENT_WARM_IDLE_S="1")
    assert install(idle, tiny_models["float32"].read_bytes())["ok"]
    (warm,) = warm_processes(idle.home)
    assert not _gone(warm, timeout=2)  # a session's child is alive: it stays
    idle.close()
    assert _gone(warm)

    kept = sessions()
    assert install(kept, tiny_models["int8"].read_bytes())["ok"]
    (warm,) = warm_processes(kept.home)
    kept.close()
    shutil.rmtree(kept.home)
    assert _gone(warm)


def test_no_warm_runtime_without_a_private_folder(sessions, tiny_models, tmp_path):
    shared = tmp_path / "tmp"
    (shared / f"tfstudio-warm-{os.getuid()}").mkdir(parents=True)
    (shared / f"tfstudio-warm-{os.getuid()}").chmod(0o777)  # others could plant a socket
    session = sessions(TMPDIR=str(shared))
    assert install(session, tiny_models["float32"].read_bytes())["ok"]
    (child,) = runtime_children(session.pid)
    assert parent_of(child) == session.pid and warm_processes(session.home) == []


def test_a_warm_child_dies_with_its_killed_session(sessions, tiny_models):
    warmup = sessions()
    assert install(warmup, tiny_models["float32"].read_bytes())["ok"]
    warmup.close()
    session = sessions(TFSTUDIO_AGENT_FAULT="validate-hang")
    data = tiny_models["int8"].read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    session.ok("lock", LOCK)
    assert session.upload(data, sha)["ok"]
    path = session.home / "inbox" / f"{sha}.partial"
    session.send("install", {"path": str(path), "sha256": sha})
    deadline = time.monotonic() + 30
    while not runtime_children(session.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    (child,) = runtime_children(session.pid)
    time.sleep(0.5)  # hanging in the runtime now
    session.kill()  # SIGKILL: the session cannot say goodbye
    assert _gone(child, timeout=10), "the forked child outlived the session that asked for it"
