"""The agent's session mode, driven as the studio drives it: one real `session` process.

What a user of the agent would notice: one process answers every step of a
deploy; an upload is hashed as it arrives and install does not read the model
again (the kernel's byte counters say so); a file changed behind the agent's
back is refused; the session holds the device lock for its life and lets go of
it cleanly when its link drops; `info` never loads numpy or the runtime.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.agent.conftest import REPO, agent_cmd, agent_env
from tests.agent.session_client import (
    SessionClient,
    children_of,
    modules_mapped,
    peak_rss_kib,
    read_bytes_of,
    runtime_children,
)

LOCK = {"id": "deploy-test0001", "owner": "tester@studio"}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def sessions(agent_home):
    """Starts sessions on the test's agent home; kills any left running at the end."""
    started: list[SessionClient] = []

    def start(env: dict | None = None, python=None, cwd: Path | None = None) -> SessionClient:
        started.append(SessionClient(agent_home, env=env, python=python, cwd=cwd))
        return started[-1]

    yield start
    for session in started:
        session.kill()


def _uploaded(session: SessionClient, data: bytes) -> Path:
    """Takes the lock, uploads `data` whole, returns the upload's path."""
    session.ok("lock", LOCK)
    answer = session.upload(data, _sha(data))
    assert answer["ok"] and answer["result"]["sha256"] == _sha(data), answer
    return session.home / "inbox" / f"{_sha(data)}.partial"


def _wait_for_child(pid: int, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = runtime_children(pid) or children_of(pid)  # a one-shot's child has no stdin
        if kids:
            return kids[0]
        time.sleep(0.01)
    raise AssertionError("the session started no runtime child")


def test_one_process_answers_each_request_in_turn(sessions, tiny_models):
    session = sessions()
    assert session.hello["session"] == 1 and session.hello["pid"] == session.pid
    assert {"info", "lock", "upload", "install", "bench", "rollback", "status"} <= set(
        session.hello["ops"]
    )
    refused = session.call("fly", {})
    assert not refused["ok"] and refused["error"]["code"] == "usage"
    assert "unknown operation 'fly'" in refused["error"]["error"]
    session.proc.stdin.write(b"this is not json\n")
    session.proc.stdin.flush()
    garbled = session.answer()
    assert garbled["id"] is None and garbled["error"]["code"] == "usage"
    data = tiny_models["int8"].read_bytes()
    upload = _uploaded(session, data)
    installed = session.ok("install", {"path": str(upload), "sha256": _sha(data)})
    assert installed["active"] == _sha(data)
    assert session.ok("list")["active"] == _sha(data)
    assert session.ok("info")["active"]["sha256"] == _sha(data)
    assert session.close() == 0


def test_info_loads_neither_numpy_nor_the_runtime(sessions, agent_home, device_venvs, tmp_path):
    python = str(device_venvs["device"])
    cache = {"XDG_CACHE_HOME": str(tmp_path / "cache")}  # the Flex probe has not run yet
    session = sessions(python=python, env=cache)
    info = session.ok("info")
    assert modules_mapped(session.pid, "numpy", "ai_edge_litert") == []
    # Issue 7's and 13's facts are there: the Flex probe ran in a runtime child (and is
    # cached), the service state was read from its files.
    assert info["runtime"]["flex_delegate"] is False
    assert (tmp_path / "cache" / "tfstudio-agent" / "flex-probe.json").is_file()
    assert info["service"] == {
        "enabled": False, "mode": None, "running": False, "port": None, "pid": None,
        "uptime_s": None, "restarts": None,
    }  # fmt: skip
    installed = subprocess.run(
        [python, "-c", "import numpy, ai_edge_litert; print(numpy.__version__)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert info["numpy"] == installed
    assert info["runtime"]["name"] == "ai-edge-litert" and info["runtime"]["compat_version"]
    # The one-shot command, in a process that then lists what it imported.
    probe = (
        "import sys; from edge_agent.cli import main; "
        f"main(['--home', {str(agent_home)!r}, 'info', '--json']); "
        "sys.stderr.write(' '.join(m for m in ('numpy', 'ai_edge_litert', 'argparse') "
        "if m in sys.modules))"
    )
    proc = subprocess.run(
        [python, "-c", probe], capture_output=True, text=True, env=agent_env(cache), cwd="/"
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["numpy"] == installed
    assert json.loads(proc.stdout)["runtime"]["flex_delegate"] is False
    assert proc.stderr == "", f"info imported: {proc.stderr}"


def test_the_flex_probe_runs_once_per_python_environment(agent, tmp_path, device_venvs):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    record = tmp_path / "cache" / "tfstudio-agent" / "flex-probe.json"
    for venv, runtime in (("device", "ai-edge-litert"), ("old-device", "tflite-runtime")):
        info = agent("info", "--json", python=device_venvs[venv], env=env).json
        assert info["runtime"]["name"] == runtime and info["runtime"]["flex_delegate"] is False
    answers = json.loads(record.read_text())
    assert sorted(answers.values()) == [False, False], answers  # one entry per environment
    # From then on `info` reports the recorded answer and probes nothing (a planted answer
    # shows through); a record for another environment is not taken for this one.
    record.write_text(json.dumps({key: True for key in answers}))
    info = agent("info", "--json", python=device_venvs["device"], env=env).json
    assert info["runtime"]["flex_delegate"] is True
    record.write_text(json.dumps({"another python": True}))
    info = agent("info", "--json", python=device_venvs["device"], env=env).json
    assert info["runtime"]["flex_delegate"] is False


def test_an_upload_is_hashed_as_it_arrives_and_install_does_not_read_it(
    sessions, agent_home, large_model
):
    data = large_model.read_bytes()
    session = sessions()
    upload = _uploaded(session, data)
    record = json.loads((upload.parent / f"{upload.name}.digest").read_text())
    assert record["sha256"] == _sha(data) and record["size"] == len(data)
    inode = upload.stat().st_ino
    before = read_bytes_of(session.pid)
    installed = session.ok("install", {"path": str(upload), "sha256": _sha(data)})
    read = read_bytes_of(session.pid) - before
    assert installed["active"] == _sha(data) and installed["validation"]["ok"]
    assert read < len(data) // 20, f"install read {read} bytes of a {len(data)}-byte model"
    stored = agent_home / "models" / _sha(data) / "model.tflite"
    assert stored.stat().st_ino == inode, "the upload is stored by link, not copied"
    assert not upload.exists() and not (upload.parent / f"{upload.name}.digest").exists()
    assert _sha(stored.read_bytes()) == _sha(data)


@pytest.mark.parametrize("record", ["missing", "stale"])
def test_without_a_valid_record_install_reads_the_upload_once(
    sessions, agent_home, large_model, record
):
    data = large_model.read_bytes()
    session = sessions()
    upload = _uploaded(session, data)
    if record == "missing":
        (upload.parent / f"{upload.name}.digest").unlink()
    else:
        os.utime(upload, ns=(time.time_ns(), time.time_ns()))  # same bytes, new identity
    before = read_bytes_of(session.pid)
    installed = session.ok("install", {"path": str(upload), "sha256": _sha(data)})
    read = read_bytes_of(session.pid) - before
    assert installed["active"] == _sha(data)
    assert len(data) <= read < len(data) * 1.2, f"read {read} bytes, the model is {len(data)}"


@pytest.mark.parametrize("how", ["session", "one-shot"])
def test_a_file_changed_between_hashing_and_validation_is_refused(
    sessions, agent, agent_home, tiny_models, how
):
    base = tiny_models["float32"]
    assert agent("install", str(base), "--json").rc == 0
    data = tiny_models["int8"].read_bytes()
    slow = {"TFSTUDIO_AGENT_FAULT": "validate-slow"}  # the child waits 3 s before loading
    session = sessions(env=slow)
    upload = _uploaded(session, data)
    if how == "session":
        session.send("install", {"path": str(upload), "sha256": _sha(data)})
        _wait_for_child(session.pid)
    else:
        session.close()  # the lock goes with it
        proc = subprocess.Popen(
            agent_cmd(agent_home, "install", str(upload), "--sha256", _sha(data), "--json"),
            stdout=subprocess.PIPE, env=agent_env(slow), cwd=str(REPO),
        )  # fmt: skip
        _wait_for_child(proc.pid)
    # The same size, one byte different: only the identity check can tell.
    with open(upload, "r+b") as handle:
        handle.seek(len(data) // 2)
        byte = handle.read(1)
        handle.seek(len(data) // 2)
        handle.write(bytes([byte[0] ^ 0xFF]))
    if how == "session":
        answer = session.answer()
        assert not answer["ok"]
        error = answer["error"]
    else:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 1
        error = json.loads(out)
    assert error["code"] == "sha256_mismatch", error
    assert "changed while it was being installed" in error["error"]
    listing = agent("list", "--json").json
    assert listing["active"] == _sha(base.read_bytes())
    assert [m["sha256"] for m in listing["models"]] == [_sha(base.read_bytes())]


def test_install_memory_is_the_runtimes_own_load_plus_little(sessions, large_model):
    data = large_model.read_bytes()
    session = sessions()
    upload = _uploaded(session, data)
    rss_before = peak_rss_kib(session.pid)
    session.ok("install", {"path": str(upload), "sha256": _sha(data)})
    (child,) = runtime_children(session.pid)  # the runtime child stays for the session's bench
    agent_growth = peak_rss_kib(session.pid) - rss_before
    child_peak = peak_rss_kib(child)
    own = subprocess.run(
        [
            session.proc.args[0], "-c",
            "import resource, sys\n"
            "from ai_edge_litert.interpreter import Interpreter\n"
            "i = Interpreter(model_path=sys.argv[1]); i.allocate_tensors(); i.invoke()\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)",
            str(large_model),
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    own_peak = int(own.stdout.split()[-1])
    # The agent never holds the model (the old install held it twice: +2.2x its size).
    assert agent_growth < 4 * 1024, f"the session grew {agent_growth} KiB"
    assert child_peak <= own_peak + 64 * 1024, (child_peak, own_peak)


def test_the_session_holds_the_device_lock_for_its_life(sessions, agent, tiny_models):
    session = sessions()
    session.ok("lock", LOCK)
    busy = agent("install", str(tiny_models["int8"]), "--json",
                 env={"TFSTUDIO_AGENT_LOCK_WAIT": "0.3"})  # fmt: skip
    assert busy.rc == 1 and busy.json["code"] == "locked"
    assert f"(pid {session.pid} from tester@studio" in busy.json["error"]
    # Its own writes run inside it.
    inside = session.ok("install", {"path": str(tiny_models["int8"])})
    assert inside["activated"]
    assert session.close() == 0
    assert agent("rollback", "--json", env={"TFSTUDIO_AGENT_LOCK_WAIT": "0.3"}).rc in (0, 1)
    assert agent("install", str(tiny_models["float16"]), "--json").rc == 0


def test_sigterm_ends_an_idle_session_at_once(sessions, agent, tiny_models):
    session = sessions()
    session.ok("lock", LOCK)
    session.proc.send_signal(signal.SIGTERM)
    assert session.proc.wait(timeout=5) == 0
    free = agent("install", str(tiny_models["int8"]), "--json",
                 env={"TFSTUDIO_AGENT_LOCK_WAIT": "1"})  # fmt: skip
    assert free.rc == 0, free.stdout


def test_sigterm_lets_a_busy_session_finish_and_record_its_write(sessions, agent, tiny_models):
    data = tiny_models["int8"].read_bytes()
    session = sessions(env={"TFSTUDIO_AGENT_FAULT": "validate-slow"})
    upload = _uploaded(session, data)
    session.send(
        "install", {"path": str(upload), "sha256": _sha(data), "op_id": "install-abcd1234"}
    )
    _wait_for_child(session.pid)
    session.proc.send_signal(signal.SIGTERM)
    assert session.proc.wait(timeout=60) == 0
    outcome = agent("outcome", "install-abcd1234", "--json").json
    assert outcome["state"] == "done" and outcome["active"] == _sha(data)


@pytest.mark.parametrize("old", ["idle", "stopped"])
def test_a_session_of_the_same_deploy_takes_the_lock_back(sessions, old):
    first = sessions()
    first.ok("lock", LOCK)  # then its link "froze": its stdin stays open
    if old == "stopped":
        first.proc.send_signal(signal.SIGSTOP)
    again = sessions()
    taken = again.ok("lock", {**LOCK, "wait": 10})
    assert taken["pid"] == again.pid
    assert first.proc.wait(timeout=10) != 0 or old == "idle"
    other = sessions()
    refused = other.call("lock", {"id": "deploy-other0002", "wait": 0.3})
    assert refused["error"]["code"] == "locked"
    assert f"pid {again.pid}" in refused["error"]["error"]


def test_an_upload_resumes_from_what_the_device_holds(sessions, agent_home, large_model):
    data = large_model.read_bytes()
    half = len(data) // 2
    session = sessions()
    session.ok("lock", LOCK)
    first = session.upload(data[:half], _sha(data), total=len(data))
    assert first["ok"] and first["result"] == {"size": half, "sha256": None}
    held = session.ok("partial", {"sha256": _sha(data)})
    assert held == {"size": half, "prefix_sha256": _sha(data[:half]), "complete": False}
    rest = session.upload(data, _sha(data), offset=half)
    assert rest["ok"] and rest["result"] == {"size": len(data), "sha256": _sha(data)}
    done = session.ok("partial", {"sha256": _sha(data)})
    assert done == {"size": len(data), "prefix_sha256": _sha(data), "complete": True}
    upload = agent_home / "inbox" / f"{_sha(data)}.partial"
    assert upload.read_bytes() == data


def test_refused_uploads_keep_the_stream_in_step(sessions, agent_home, tiny_models):
    data = tiny_models["int8"].read_bytes()
    session = sessions()
    unlocked = session.upload(data, _sha(data))
    assert unlocked["error"]["code"] == "locked"
    assert session.ok("info")["partials"] == []  # the body was read, not taken for requests
    session.ok("lock", LOCK)
    wrong = session.upload(data, "0" * 64)
    assert wrong["error"]["code"] == "sha256_mismatch"
    assert not (agent_home / "inbox" / f"{'0' * 64}.partial").exists()
    beyond = session.upload(data, _sha(data), offset=10)  # nothing to resume from
    assert beyond["error"]["code"] == "usage"
    assert session.upload(data, _sha(data))["ok"]
    assert session.close() == 0


def test_bench_runs_in_the_runtime_child_not_the_session(sessions, tiny_models):
    data = tiny_models["int8"].read_bytes()
    session = sessions()
    upload = _uploaded(session, data)
    session.ok("install", {"path": str(upload), "sha256": _sha(data)})
    report = session.ok(
        "bench", {"runs": 5, "warmup": 1, "min_seconds": 0, "warmup_min_seconds": 0}
    )
    assert report["model"]["sha256"] == _sha(data) and 0 < report["p50_ms"] <= report["p99_ms"]
    (child,) = runtime_children(session.pid)
    assert modules_mapped(child, "numpy")
    assert modules_mapped(session.pid, "numpy", "ai_edge_litert") == []
    refused = session.call("bench", {"runs": 0})
    assert refused["error"]["code"] == "usage" and "--runs" in refused["error"]["error"]
    unknown = session.call("bench", {"colour": "blue"})
    assert unknown["error"]["code"] == "usage" and "colour" in unknown["error"]["error"]


def test_a_crashing_runtime_child_leaves_the_session_standing(sessions, agent, tiny_models):
    base = tiny_models["float32"]
    assert agent("install", str(base), "--json").rc == 0
    data = tiny_models["int8"].read_bytes()
    session = sessions(env={"TFSTUDIO_AGENT_FAULT": "validate-crash"})
    upload = _uploaded(session, data)
    crashed = session.call("install", {"path": str(upload), "sha256": _sha(data)})
    assert crashed["error"]["code"] == "validation_crashed"
    assert "SIGSEGV" in crashed["error"]["error"]
    assert session.ok("list")["active"] == _sha(base.read_bytes())
    assert upload.exists(), "the upload stays for another try"


def test_a_big_upload_starts_the_runtime_child_as_it_begins(sessions, large_model):
    """The runtime's import overlaps the transfer of a big model instead of following it."""
    data = large_model.read_bytes()
    session = sessions()
    session.ok("lock", LOCK)
    half = len(data) // 2
    args = {"sha256": _sha(data), "offset": 0, "length": len(data), "total": len(data)}
    session.send("upload", args, data[:half])  # the rest is still on its way
    child = _wait_for_child(session.pid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not modules_mapped(child, "numpy"):
        time.sleep(0.05)
    assert modules_mapped(child, "numpy"), "the child imports the runtime during the upload"
    session.proc.stdin.write(data[half:])
    session.proc.stdin.flush()
    assert session.answer()["result"]["sha256"] == _sha(data)
    upload = session.home / "inbox" / f"{_sha(data)}.partial"
    installed = session.ok("install", {"path": str(upload), "sha256": _sha(data)})
    assert installed["validation"]["ok"] and runtime_children(session.pid) == [child]


def test_eval_and_a_sweep_on_real_inputs_run_in_the_sessions_runtime_child(
    sessions, agent, tiny_models, tmp_path
):
    """Issue 13's eval and bench options through the session: relative paths are the
    session's (as for the one-shot commands), and one runtime child serves them all."""
    import numpy as np

    rng = np.random.default_rng(3)
    x = rng.random((20, 64), dtype=np.float32)
    np.savez(tmp_path / "eval.npz", x=x, y=rng.integers(0, 10, 20))
    np.save(tmp_path / "inputs.npy", x[:6])
    data_sha = _sha((tmp_path / "eval.npz").read_bytes())
    inputs_sha = _sha((tmp_path / "inputs.npy").read_bytes())
    data = tiny_models["int8"].read_bytes()
    session = sessions(cwd=tmp_path)
    upload = _uploaded(session, data)
    session.ok("install", {"path": str(upload), "sha256": _sha(data)})
    (child,) = runtime_children(session.pid)

    evaluated = session.ok(
        "eval", {"data_path": "eval.npz", "data_sha": data_sha, "with_top1": True}
    )
    oneshot = agent("eval", str(tmp_path / "eval.npz"), "--sha256", data_sha, "--json").json
    assert evaluated["accuracy"] == oneshot["accuracy"] and len(evaluated["top1"]) == 20
    assert evaluated["data"]["path"] == str(tmp_path / "eval.npz")

    quick = {"runs": 5, "warmup": 1, "min_seconds": 0, "warmup_min_seconds": 0}
    sweep = session.ok(
        "bench",
        {**quick, "threads": "1,2", "input_kind": "inputs.npy", "input_sha": inputs_sha,
         "profile_ops": True},
    )  # fmt: skip
    assert [r["threads"] for r in sweep["sweep"]] == [1, 2] and sweep["fastest_threads"] in (1, 2)
    for report in sweep["sweep"]:
        assert report["method"]["inputs"] == "file" and report["method"]["input_sets"] == 6
        assert report["method"]["input_sha256"] == inputs_sha
        assert report["op_profile"] is not None
    assert runtime_children(session.pid) == [child], "validation, eval and bench: one runtime child"
    assert modules_mapped(session.pid, "numpy", "ai_edge_litert") == []

    bad = session.call("bench", {**quick, "threads": "1,x"})
    assert bad["error"]["code"] == "usage" and "thread" in bad["error"]["error"]
    wrong = session.call("eval", {"data_path": "eval.npz", "data_sha": "f" * 64})
    assert wrong["error"]["code"] == "sha256_mismatch"
    assert session.close() == 0
