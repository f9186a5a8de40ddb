"""service: serve kept running by the agent's own supervisor; systemd detection and fallback.

systemd does not run in this container (`systemctl --user` fails, or is
missing in CI), so the supervised-process path is tested for real: enable,
a crash (SIGKILL) and the restart, a dead supervisor, a serve that cannot
start, disable. The systemd path is tested where it can be without faking a
user manager: its detection, the refusal of `--mode systemd` with the reason,
and the unit file it would install.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.helpers.net import listening_addresses
from tests.helpers.sshd import processes_with

FAST_WAIT = ["--wait", "30"]


@pytest.fixture
def service_home(agent, agent_home: Path, tiny_models):
    """An agent home with the float MLP active; any service left running is stopped after."""
    assert agent("install", str(tiny_models["float32"]), "--name", "mlp", "--json").rc == 0
    yield agent_home
    agent("service", "disable", "--json")
    for pid in processes_with(str(agent_home)):
        os.kill(pid, signal.SIGKILL)


def _status(agent, *extra: str) -> dict:
    run = agent("service", "status", *extra, "--json")
    assert run.rc == 0, run.stdout + run.stderr
    return run.json


def _wait_for(agent, predicate, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = _status(agent)
        if predicate(state):
            return state
        assert time.monotonic() < deadline, f"gave up waiting; last state: {state}"
        time.sleep(0.1)


def _predict(port: int, token: str | None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(
        "POST", "/v1/models/default:predict", json.dumps({"instances": [[0.5] * 64]}), headers
    )
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def test_enable_crash_restart_disable(agent, service_home: Path) -> None:
    run = agent("service", "enable", "--port", "0", *FAST_WAIT, "--json")
    assert run.rc == 0, run.stdout + run.stderr
    state = run.json
    assert state["enabled"] and state["running"] and state["changed"] is True
    assert state["mode"] == "process"
    assert state["systemd"]["available"] is False and "systemctl" in state["systemd"]["reason"]
    assert state["active"]["name"] == "mlp"
    port, first_pid = state["port"], state["pid"]
    assert listening_addresses(port) == ["127.0.0.1"]  # nothing beyond the loopback

    token = _status(agent, "--with-token")["token"]
    assert token and _predict(port, None)[0] == 401
    code, answer = _predict(port, token)
    assert code == 200 and len(answer["predictions"][0]) == 10

    again = agent("service", "enable", "--port", "0", "--json").json
    assert again["changed"] is False and again["pid"] == first_pid

    os.kill(first_pid, signal.SIGKILL)  # serve crashes
    state = _wait_for(agent, lambda s: s["running"] and s["pid"] != first_pid)
    assert state["restarts"] == 1 and state["last_exit"] == "killed by SIGKILL"
    assert state["uptime_s"] is not None and state["uptime_s"] < 20
    assert _predict(state["port"], token)[0] == 200  # the same token after the restart

    info = agent("info", "--json").json["service"]
    assert info["running"] and info["pid"] == state["pid"] and info["restarts"] == 1

    stopped = agent("service", "disable", "--json").json
    assert stopped["stopped"] is True
    assert processes_with(str(service_home)) == []
    after = _status(agent)
    assert after["enabled"] is False and after["running"] is False
    assert not (service_home / "service.env").exists()


def test_a_dead_supervisor_takes_serve_with_it(agent, service_home: Path) -> None:
    state = agent("service", "enable", "--port", "0", *FAST_WAIT, "--json").json
    supervisor, serve = state["supervisor_pid"], state["pid"]
    os.kill(supervisor, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{serve}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{serve}"), "serve outlived its supervisor"
    down = _status(agent)
    assert down["enabled"] is True and down["running"] is False
    text = agent("service", "status")
    assert "NOT running" in text.stdout

    back = agent("service", "enable", "--port", "0", *FAST_WAIT, "--json")
    assert back.rc == 0 and back.json["running"] and back.json["changed"] is True


def test_a_serve_that_cannot_start_is_reported(agent, service_home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = agent("service", "enable", "--port", str(port), "--wait", "3", "--json")
        assert run.rc == 1
        assert run.json["code"] == "service_failed"
        assert f"cannot listen on 127.0.0.1:{port}" in run.json["error"]
        state = _status(agent)
        assert state["enabled"] and not state["running"] and state["restarts"] >= 1
        assert "cannot listen" in state["last_error"] and "serve keeps failing" in state["hint"]
        human = agent("service", "enable", "--port", str(port), "--wait", "1")
        assert human.rc == 1 and len(human.stderr.strip().splitlines()) == 1
    assert agent("service", "disable", "--json").json["stopped"] is True
    assert processes_with(str(service_home)) == []


def test_systemd_mode_is_refused_with_the_reason_here(agent, service_home: Path) -> None:
    run = agent("service", "enable", "--mode", "systemd", "--json")
    assert run.rc == 2 and run.json["code"] == "usage"
    assert "systemd --user is not available here" in run.json["error"]
    assert "systemctl" in run.json["error"]  # "not found", or the bus error it printed
    assert "--mode process" in run.json["hint"]
    assert not (service_home / "service.json").exists()


def test_a_hand_started_server_is_not_replaced(agent, service_home: Path) -> None:
    from tests.agent.test_server import Server

    server = Server(service_home)
    try:
        run = agent("service", "enable", "--port", "0", "--json")
        assert run.rc == 1 and run.json["code"] == "locked"
        assert f"pid {server.proc.pid}" in run.json["error"]
        status = _status(agent)
        assert status["server"]["running"] and status["server"]["port"] == server.port
    finally:
        server.stop()


def test_unit_file_quotes_what_systemd_would_expand(tmp_path: Path) -> None:
    from edge_agent import systemd

    home = tmp_path / "a home" / "100%$x"
    text = systemd.unit_text(
        home, ["/usr/bin/python3", f"--home={home}", "serve"], home / "env", "/p"
    )
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert '"--home=' in exec_start and "100%%$$x" in exec_start
    assert "Restart=always" in text and "WantedBy=default.target" in text
    assert f"EnvironmentFile=-{home / 'env'}" in text
    assert systemd.unit_name(home) == systemd.unit_name(home)
    assert systemd.unit_name(home) != systemd.unit_name(tmp_path)
    assert "enable-linger" in systemd.linger_hint()
