"""Deadlines: a frozen device (its sshd SIGSTOPped) fails on its own; Ctrl-C ends a deploy.

Timeouts come from tfstudio.toml, small here so that the tests stay fast.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.fleet.conftest import Lab, listing
from tests.helpers.sshd import SshdFactory, sshd_sessions_of, thaw
from tfstudio.fleet.registry import get_device
from tfstudio.models.facts import inspect_model


def test_a_frozen_device_fails_with_no_progress_and_the_others_finish(
    lab: Lab, big_model: Path, studio_config
) -> None:
    studio_config("[ssh]\nstall_timeout = 2\ncommand_timeout = 20\n")
    lab.add("frozen", server=2, user=1)
    lab.add("thawed", server=3, user=0)
    frozen_user = get_device("frozen").user
    assert frozen_user is not None
    stopped: list[int] = []

    def freeze_when_pushing() -> None:
        # The frozen device's connection: SIGSTOP its sshd once the push starts.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not stopped:
            for pid in sshd_sessions_of(frozen_user):
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
            time.sleep(0.01)

    from tfstudio.cli.deploy_cmd import connector, deploy_options
    from tfstudio.config import load_config
    from tfstudio.deploy.run import deploy_many
    from tfstudio.fleet.registry import resolve_names
    from tfstudio.operations import Event, Stage, StageStarted

    def on_event(event: Event) -> None:
        pushing = isinstance(event, StageStarted) and event.stage is Stage.PUSH
        if pushing and event.target == "frozen" and not stopped:
            freeze_when_pushing()

    outcome: dict = {}

    def run() -> None:
        outcome["results"] = deploy_many(
            big_model,
            inspect_model(big_model),
            resolve_names("frozen,thawed"),
            deploy_options(load_config()),
            connect=connector(),
            on_event=on_event,
        )

    worker = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    try:
        worker.start()
        worker.join(timeout=90)
        elapsed = time.monotonic() - started
    finally:
        thaw(stopped)
        worker.join(timeout=60)
    assert stopped, "the frozen device's sshd was never stopped"
    assert elapsed < 60, f"the fleet command hung for {elapsed:.0f}s on one frozen device"
    results = {r.device: r for r in outcome["results"]}
    assert results["thawed"].status.value == "ok", results["thawed"].message
    assert results["frozen"].status.value == "failed"
    assert "no progress for 2 s" in results["frozen"].message
    assert listing(get_device("thawed"))["active"] == inspect_model(big_model).sha256


def test_ctrl_c_ends_a_deploy_cleanly(
    lab: Lab,
    sshd: SshdFactory,
    tiny_models: dict[str, Path],
    studio_config,
    studio_home: Path,
) -> None:
    studio_config("[ssh]\nconnect_timeout = 60\nstall_timeout = 60\n")
    server = sshd.start(f"ctrlc{len(sshd.servers)}")
    lab.add("ctrlc-frozen", server=server, user=1)
    lab.add("ctrlc-fine", server=4, user=0)
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGSTOP)  # new connections: TCP yes, SSH never
    env = {**os.environ, "TFSTUDIO_HOME": str(studio_home), "PYTHONUNBUFFERED": "1"}
    model = tiny_models["float32"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tfstudio", "deploy", str(model), "--to", "ctrlc-frozen,ctrlc-fine"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    log = studio_home / "deploys.jsonl"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "ctrlc-fine" not in (
            log.read_text() if log.exists() else ""
        ):
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"Ctrl-C did not end the deploy: {err}")
        took = time.monotonic() - interrupted
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
        server.stop()
    assert proc.returncode == 130, (out, err)
    assert took < 8, f"Ctrl-C took {took:.1f}s"
    assert "Traceback" not in err
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("ctrlc-")}
    assert "cancelled" in rows["ctrlc-frozen"] and " ok " in rows["ctrlc-fine"]
    assert listing(get_device("ctrlc-fine"))["active"] == inspect_model(model).sha256
