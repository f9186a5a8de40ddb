"""A link that drops during install: the studio reconnects, learns what the agent did, and
finishes the health gate (or says what the device really runs).

The sshd process serving the deploy's connection is SIGKILLed while the agent
validates the model (in a cold runtime child, whose command line names the model:
these devices run without the warm runtime); the agent, no longer connected to anyone, goes on and
activates it, exactly as on a real device whose Wi-Fi dropped.
"""

from __future__ import annotations

import os
import pwd
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.fleet.conftest import Lab, listing
from tests.helpers.sshd import SshdFactory, sshd_session_serving, thaw
from tfstudio.deploy.options import DeployOptions, DeployResult, Status
from tfstudio.deploy.run import deploy_one
from tfstudio.fleet.registry import Device
from tfstudio.measure.bench import BenchSettings
from tfstudio.models.facts import ModelFacts, inspect_model
from tfstudio.operations import Event, Stage, StageStarted

QUICK = BenchSettings(runs=5, warmup=1, min_seconds=0, warmup_min_seconds=0)


class LinkCutter:
    """Kills the sshd session that runs the agent's validation of `sha` (once)."""

    def __init__(self, device: Device, sha: str, before_kill=None) -> None:
        self.before_kill = before_kill
        self.marker = "validate_child"
        home = Path(pwd.getpwnam(device.user or "").pw_dir) / device.agent_home
        self.path = f"{home}/inbox/{sha}.partial"  # the child gets absolute paths
        self.killed = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, event: Event) -> None:
        installing = isinstance(event, StageStarted) and event.stage is Stage.INSTALL
        if installing and self._thread is None:
            self._thread = threading.Thread(target=self._cut, daemon=True)
            self._thread.start()

    def _cut(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            # This deploy's validation child: the install is past its checks.
            pid = sshd_session_serving(f"{self.marker} {self.path}")
            if pid is not None:
                if self.before_kill is not None:
                    self.before_kill()
                os.kill(pid, signal.SIGKILL)
                self.killed.set()
                return
            time.sleep(0.005)


def test_dropped_link_during_install_still_runs_the_gate_and_rolls_back(
    lab: Lab, tiny_models: dict[str, Path]
) -> None:
    device = lab.add("droppy", server=0, python="device-cold")
    old, new = tiny_models["float32"], tiny_models["int8"]
    assert deploy_one(old, inspect_model(old), device, DeployOptions()).ok
    facts = inspect_model(new)
    cutter = LinkCutter(device, facts.sha256)
    options = DeployOptions(max_p99_ms=0.000001, bench_settings=QUICK)
    result = deploy_one(new, facts, device, options, on_event=cutter)
    assert cutter.killed.is_set(), "the link was never cut"
    assert result.status is Status.ROLLED_BACK, result.message
    assert "reconnected" in result.message and "over the budget" in result.message
    state = listing(device)
    assert state["active"] == result.active == inspect_model(old).sha256


def test_dropped_link_during_install_reports_the_activation(
    lab: Lab, tiny_models: dict[str, Path]
) -> None:
    device = lab.add("droppy2", server=1, python="device-cold")
    model = tiny_models["float16"]
    facts = inspect_model(model)
    cutter = LinkCutter(device, facts.sha256)
    result = deploy_one(model, facts, device, DeployOptions(), on_event=cutter)
    assert cutter.killed.is_set(), "the link was never cut"
    assert result.status is Status.OK, result.message
    assert result.active == facts.sha256 == listing(device)["active"]


def test_a_device_that_stays_gone_is_reported_as_unknown_state(
    lab: Lab, sshd: SshdFactory, tiny_models: dict[str, Path], studio_config
) -> None:
    studio_config("[deploy]\nreconnect_timeout = 2\n")
    server = sshd.start(f"gone{len(sshd.servers)}")
    try:
        device = lab.add("goner", server=server, python="device-cold")
        model = tiny_models["float32"]
        facts = inspect_model(model)
        # The device's sshd stops listening, then its session dies: no way back in.
        cutter = LinkCutter(device, facts.sha256, before_kill=server.stop)
        from tfstudio.cli.deploy_cmd import deploy_options
        from tfstudio.config import load_config

        options = deploy_options(load_config())
        started = time.monotonic()
        result = deploy_one(model, facts, device, options, on_event=cutter)
        assert cutter.killed.is_set()
        assert time.monotonic() - started < 30
        assert result.status is Status.FAILED, result.message
        assert "state is unknown" in result.message and facts.sha256[:12] in result.message
        assert f"tfstudio models --on {device.name}" in (result.hint or "")
        assert result.active is None
    finally:
        server.stop()


def _deploy_as_configured(
    model: Path, facts: ModelFacts, device: Device, on_event: Callable[[Event], None]
) -> DeployResult:
    """Deploys with the options and SSH connector the CLI builds from the studio config."""
    from tfstudio.cli.deploy_cmd import connector, deploy_options
    from tfstudio.config import load_config

    options = deploy_options(load_config())
    return deploy_one(model, facts, device, options, connect=connector(), on_event=on_event)


def test_a_link_that_freezes_during_install_is_recovered(
    lab: Lab, tiny_models: dict[str, Path], studio_config
) -> None:
    """SIGSTOP on the session's sshd: the install stalls, the studio gives up on that
    connection, opens another, takes its device lock back and reads the outcome."""
    from tests.helpers.sshd import sshd_sessions_of

    studio_config("[ssh]\nstall_timeout = 2\n")
    device = lab.add("freezy", server=2, user=1, python="device-cold")
    assert device.user is not None
    model = tiny_models["float16"]
    facts = inspect_model(model)
    stopped: list[int] = []

    def freeze(event: Event) -> None:
        if isinstance(event, StageStarted) and event.stage is Stage.INSTALL and not stopped:
            for pid in sshd_sessions_of(device.user or ""):
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)

    started = time.monotonic()
    try:
        result = _deploy_as_configured(model, facts, device, on_event=freeze)
    finally:
        thaw(stopped)
    assert stopped, "the link was never frozen"
    assert time.monotonic() - started < 40
    assert result.status is Status.OK, result.message
    assert "reconnected" in result.message
    assert result.active == facts.sha256 == listing(device)["active"]


class GateLinkCutter:
    """Kills the sshd session of the deploy's agent once, while the gate's bench runs."""

    def __init__(self, device: Device) -> None:
        self.marker = f"--home={device.agent_home} --json session"
        self.killed = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, event: Event) -> None:
        benching = isinstance(event, StageStarted) and event.stage is Stage.BENCH
        if benching and self._thread is None:
            self._thread = threading.Thread(target=self._cut, daemon=True)
            self._thread.start()

    def _cut(self) -> None:
        time.sleep(0.5)  # inside the bench (it runs for a few seconds)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pid = sshd_session_serving(self.marker)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                self.killed.set()
                return
            time.sleep(0.01)


def test_a_link_that_drops_during_the_gates_bench_is_measured_again_not_rolled_back(
    lab: Lab, tiny_models: dict[str, Path]
) -> None:
    device = lab.add("gatedrop", server=1)
    old, new = tiny_models["float32"], tiny_models["int8"]
    assert deploy_one(old, inspect_model(old), device, DeployOptions()).ok
    facts = inspect_model(new)
    cutter = GateLinkCutter(device)
    slow = BenchSettings(runs=20, warmup=1, min_seconds=3, warmup_min_seconds=0)
    options = DeployOptions(max_p99_ms=10_000, bench_settings=slow)
    result = deploy_one(new, facts, device, options, on_event=cutter)
    assert cutter.killed.is_set(), "the link was never cut"
    assert result.status is Status.OK, result.message
    assert "reconnected" in result.message and "measured again" in result.message
    assert result.bench and result.bench.get("p99_ms") is not None
    assert listing(device)["active"] == facts.sha256


def test_a_first_model_that_fails_its_gate_stays_active_and_the_deploy_fails(
    lab: Lab, tiny_models: dict[str, Path]
) -> None:
    device = lab.add("firstgate", server=2)
    model = tiny_models["float32"]
    facts = inspect_model(model)
    options = DeployOptions(max_p99_ms=0.000001, bench_settings=QUICK)
    result = deploy_one(model, facts, device, options)
    assert result.status is Status.FAILED and not result.ok
    assert f"{facts.sha256[:12]} stays active" in result.message, result.message
    assert "no previous one to roll back to" in result.message
    assert listing(device)["active"] == facts.sha256


def test_an_agent_stopped_mid_install_is_named_as_such_not_as_a_dropped_link(
    lab: Lab, tiny_models: dict[str, Path], studio_config
) -> None:
    """SIGSTOP on the agent itself (the link stays up): the studio gives up on it after the
    stall timeout, starts another agent, and says the agent stopped answering."""
    from tests.helpers.sshd import processes_with

    studio_config("[ssh]\nstall_timeout = 2\n")
    device = lab.add("stoppy", server=0, user=1, python="device-cold")
    model = tiny_models["float16"]
    facts = inspect_model(model)
    stopped: list[int] = []
    marker = f"--home={device.agent_home} --json session"

    def stop_agent(event: Event) -> None:
        if isinstance(event, StageStarted) and event.stage is Stage.INSTALL and not stopped:
            for pid in processes_with(marker):
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)

    try:
        result = _deploy_as_configured(model, facts, device, on_event=stop_agent)
    finally:
        thaw(stopped)
    assert stopped, "the agent was never stopped"
    assert result.status is Status.OK, result.message
    assert "reconnected after the agent stopped answering" in result.message, result.message
    assert "link dropped" not in result.message
    assert result.active == facts.sha256 == listing(device)["active"]
