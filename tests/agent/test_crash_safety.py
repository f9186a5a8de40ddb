"""Crash safety and concurrency of the store, with real processes killed by SIGKILL.

The agent stops at named steps when TFSTUDIO_AGENT_PAUSE_AT says so; the test
kills it there (and, in a second test, at random instants), then checks what a
user would: `list` works, the active model is complete and its file hashes to
its name, and the store still accepts installs (the kernel dropped the flock).
"""

from __future__ import annotations

import hashlib
import json
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.agent.conftest import REPO, agent_cmd, agent_env
from tests.agent.session_client import SessionClient

# Processes killed at every step: a slow scenario, the full tier (tests/plugins/tiers.py).
pytestmark = pytest.mark.usefixtures("slow_scenario")

INSTALL_STEPS = [
    "install-locked",
    "install-model-partial",
    "install-model-written",
    "install-staged",
    "install-stored",
    "pointer-staged",
    "activate-done",
]

UPLOAD_STEPS = [
    "install-locked",
    "install-linked",
    "install-model-written",
    "install-staged",
    "install-stored",
    "pointer-staged",
    "activate-done",
]
"""The steps of installing an upload from inbox/: it is linked into the store, not copied."""


def spawn(home: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        agent_cmd(home, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=agent_env(env),
        cwd=str(REPO),
    )


def kill_when_paused(proc: subprocess.Popen, step: str) -> None:
    line = proc.stderr.readline()
    assert line.strip() == f"PAUSED {step}", f"expected a pause at {step}, got {line!r}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def check_store(agent, home: Path, allowed: set) -> str:
    """Asserts the invariant after a crash; returns the active sha."""
    run = agent("list", "--json", home=home)
    assert run.rc == 0, run.stdout + run.stderr
    active = run.json["active"]
    assert active in allowed
    model = home / "models" / active / "model.tflite"
    assert hashlib.sha256(model.read_bytes()).hexdigest() == active
    assert (home / "models" / active / "manifest.json").is_file()
    for entry in run.json["models"]:
        stored = home / "models" / entry["sha256"] / "model.tflite"
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == entry["sha256"]
    return active


@pytest.fixture
def two_models(tiny_models):
    a, b = tiny_models["float32"], tiny_models["int8"]
    return (
        a,
        b,
        hashlib.sha256(a.read_bytes()).hexdigest(),
        hashlib.sha256(b.read_bytes()).hexdigest(),
    )


@pytest.mark.parametrize("step", INSTALL_STEPS)
def test_kill_during_install(agent, tmp_path, two_models, step):
    a, b, sha_a, sha_b = two_models
    home = tmp_path / "home"
    assert agent("install", str(a), "--json", home=home).rc == 0
    proc = spawn(home, "install", str(b), "--json", env={"TFSTUDIO_AGENT_PAUSE_AT": step})
    kill_when_paused(proc, step)
    check_store(agent, home, {sha_a, sha_b})
    # The dead writer's lock is gone and its leftovers are cleaned by the next writer.
    run = agent("install", str(b), "--json", home=home, env={"TFSTUDIO_AGENT_LOCK_WAIT": "1"})
    assert run.rc == 0, run.stdout
    assert check_store(agent, home, {sha_b}) == sha_b
    assert not [p.name for p in (home / "models").iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.parametrize("step", UPLOAD_STEPS)
def test_kill_during_install_of_an_upload(agent, tmp_path, two_models, step):
    a, b, sha_a, sha_b = two_models
    home = tmp_path / "home"
    assert agent("install", str(a), "--json", home=home).rc == 0
    session = SessionClient(home)
    session.ok("lock", {"id": "deploy-crash0001"})
    data = b.read_bytes()
    assert session.upload(data, sha_b)["ok"]
    assert session.close() == 0
    upload = home / "inbox" / f"{sha_b}.partial"
    proc = spawn(home, "install", str(upload), "--sha256", sha_b, "--json",
                 env={"TFSTUDIO_AGENT_PAUSE_AT": step})  # fmt: skip
    kill_when_paused(proc, step)
    check_store(agent, home, {sha_a, sha_b})
    stored = (home / "models" / sha_b / "manifest.json").is_file()
    # Never lost: still uploaded (complete), or stored; the deploy ends without a resend.
    assert stored or hashlib.sha256(upload.read_bytes()).hexdigest() == sha_b
    if upload.exists():
        again = agent("install", str(upload), "--sha256", sha_b, "--json", home=home)
    else:
        again = agent("activate", sha_b, "--json", home=home)
    assert again.rc == 0, again.stdout
    assert check_store(agent, home, {sha_b}) == sha_b
    for directory in (home / "models", home / "inbox"):
        assert not [p.name for p in directory.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.parametrize(
    ("command", "step"),
    [("activate", "pointer-staged"), ("activate", "activate-done"),
     ("rollback", "pointer-staged"), ("rollback", "rollback-done")],
)  # fmt: skip
def test_kill_during_activate_and_rollback(agent, tmp_path, two_models, command, step):
    a, b, sha_a, sha_b = two_models
    home = tmp_path / "home"
    assert agent("install", str(a), "--json", home=home).rc == 0
    assert agent("install", str(b), "--json", home=home).rc == 0
    args = ("activate", sha_a) if command == "activate" else ("rollback",)
    proc = spawn(home, *args, "--json", env={"TFSTUDIO_AGENT_PAUSE_AT": step})
    kill_when_paused(proc, step)
    check_store(agent, home, {sha_a, sha_b})


@pytest.mark.parametrize("how", ["install --keep", "prune"])
def test_kill_during_prune(agent, tmp_path, two_models, tiny_models, how):
    a, b, sha_a, sha_b = two_models
    c = tiny_models["float16"]
    sha_c = hashlib.sha256(c.read_bytes()).hexdigest()
    home = tmp_path / "home"
    assert agent("install", str(a), "--json", home=home).rc == 0
    assert agent("install", str(b), "--json", home=home).rc == 0
    # a is older than the rollback target b: the only model a prune may remove.
    if how == "prune":
        assert agent("install", str(c), "--json", home=home).rc == 0
        args = ("prune", "--keep", "1")
    else:
        args = ("install", str(c), "--keep", "1")
    proc = spawn(home, *args, "--json", env={"TFSTUDIO_AGENT_PAUSE_AT": "prune-renamed"})
    kill_when_paused(proc, "prune-renamed")
    assert check_store(agent, home, {sha_c}) == sha_c
    assert agent("rollback", "--json", home=home).json["active"] == sha_b


def test_kill_at_random_instants(agent, tmp_path, tiny_models):
    """SIGKILL an install/activate/rollback at a random instant, 20 times in a row."""
    rng = random.Random(1234)
    home = tmp_path / "home"
    paths = [tiny_models[m] for m in ("float32", "int8", "float16")]
    shas = {hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    assert agent("install", str(paths[0]), "--json", home=home).rc == 0
    for i in range(20):
        choice = i % 3
        if choice == 0:
            args = ("install", str(paths[rng.randrange(3)]), "--keep", "2")
        elif choice == 1:
            args = ("activate", rng.choice(sorted(shas))[:12])
        else:
            args = ("rollback",)
        proc = spawn(home, *args, "--json")
        time.sleep(rng.uniform(0.0, 0.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        check_store(agent, home, shas)


def test_second_writer_waits_then_fails_with_locked(agent, tmp_path, two_models):
    a, b, sha_a, _ = two_models
    home = tmp_path / "home"
    assert agent("install", str(a), "--json", home=home).rc == 0
    holder = spawn(
        home, "activate", sha_a, "--json", env={"TFSTUDIO_AGENT_PAUSE_AT": "activate-done"}
    )
    try:
        assert holder.stderr.readline().strip() == "PAUSED activate-done"
        started = time.monotonic()
        run = agent("install", str(b), "--json", home=home, env={"TFSTUDIO_AGENT_LOCK_WAIT": "1"})
        assert run.rc == 1
        assert run.json["code"] == "locked"
        assert time.monotonic() - started >= 1.0, "it waits briefly before giving up"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    assert check_store(agent, home, {sha_a}) == sha_a
    assert agent("install", str(b), "--json", home=home).rc == 0


def test_concurrent_installs_are_serialised(agent, tmp_path, tiny_models):
    home = tmp_path / "home"
    paths = [tiny_models[m] for m in ("float32", "int8", "float16", "dynamic")]
    procs = [spawn(home, "install", str(p), "--keep", "10", "--json") for p in paths]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append((proc.returncode, json.loads(out)))
    ok = {r["sha256"] for rc, r in results if rc == 0}
    refused = [r for rc, r in results if rc != 0]
    assert all(r["code"] == "locked" for r in refused), refused
    assert ok, "at least one install must succeed"
    state = json.loads((home / "active.json").read_text())
    # Each activating install pushed the previous active model: a lost update
    # (interleaved writers) would drop one from this chain.
    assert sorted([*state["history"], state["active"]]) == sorted(ok)
    check_store(agent, home, ok)
    listing = agent("list", "--json", home=home).json
    assert {m["sha256"] for m in listing["models"]} == ok
