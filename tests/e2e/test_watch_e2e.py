"""The whole system, hands-free: a training job in the real TensorFlow container exports
into a watched workspace; the watcher converts (dynamic, int8), deploys to the local
device and two loopback sshd devices (one the old tflite-runtime 2.14 device) plus one
that goes down mid-deploy, benches, and the chain image digest → SavedModel hash →
variant sha256 → activation reads back for each device.

One pipeline run (module-scoped) serves every assertion: training and conversion are
the expensive parts. The watcher runs in this process (the pipeline control,
`Pipeline`), so the test can take the fourth device down exactly when its push starts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, VENVS
from tests.helpers.sshd import SSHD, SshdFactory, SshdServer, sshd_sessions_of
from tests.plugins.devices import Lab
from tests.plugins.docker import TF_IMAGE
from tests.training.tfjob import prepare_workspace
from tfstudio.measure.bench import BenchSettings
from tfstudio.workflows.pipeline.control import Pipeline
from tfstudio.workflows.pipeline.events import PipelineEvent
from tfstudio.workflows.pipeline.settings import PipelineSettings

DEVICES = ("local", "pi", "old", "flaky")
CONFIG = """\
[ssh]
connect_timeout = 5
stall_timeout = 5
[deploy]
reconnect_timeout = 3
"""


@dataclass
class Run:
    """What the one pipeline run left: its events, the log read back, the export."""

    home: Path
    workspace: Path
    export: Path
    half: Path
    events: list[PipelineEvent]
    chains: list[dict]
    errors: list[dict]
    image_id: str
    job_id: str

    def of(self, step: str, target: str | None = None) -> list[PipelineEvent]:
        return [e for e in self.events if e.step == step and target in (None, e.target)]


class DownAtPush:
    """Takes a device down (its sshd and every session of its user) when its push starts."""

    def __init__(self, server: SshdServer, user: str) -> None:
        self.server, self.user = server, user
        self.done = threading.Event()

    def __call__(self, event: PipelineEvent) -> None:
        if (
            event.step == "progress"
            and event.target == "flaky"
            and event.status == "push"
            and not self.done.is_set()
        ):
            self.server.stop()
            for pid in sshd_sessions_of(self.user):
                os.kill(pid, signal.SIGKILL)
            self.done.set()


def _workspace(root: Path) -> tuple[Path, Path, Path]:
    workspace = prepare_workspace(root / "workspace", export="exports/digits/1", epochs=3)
    data = np.load(workspace / "data" / "digits.npz")
    x, y = data["x"].astype(np.float32), data["y"]
    np.save(root / "rep.npy", x[:100])
    np.savez(root / "eval.npz", x=x[-300:], y=y[-300:])
    return workspace, root / "rep.npy", root / "eval.npz"


@pytest.fixture(scope="module")
def run(
    tmp_path_factory: pytest.TempPathFactory, docker_api, tensorflow_child: None
) -> Iterator[Run]:
    if not Path(SSHD).exists() or os.geteuid() != 0:
        pytest.fail("the e2e tests run as root with openssh-server installed (.ci/run does)")
    root = tmp_path_factory.mktemp("watch-e2e")
    home = root / "home"
    home.mkdir()
    factory = SshdFactory(prefix="tfwe")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TFSTUDIO_HOME", str(home))
        try:
            yield _one_run(root, home, factory, docker_api)
        finally:
            studio_id = home / "studio-id"
            if studio_id.exists():
                label = f"tfstudio.studio={studio_id.read_text().strip()}"
                for found in docker_api.containers(all=True, filters={"label": label}):
                    docker_api.remove_container(found["Id"], force=True)
            factory.close()


def _one_run(root: Path, home: Path, factory: SshdFactory, docker_api) -> Run:
    from tfstudio.studio import Studio

    (home / "tfstudio.toml").write_text(CONFIG)
    venvs = {n: VENVS / n / "bin" / "python" for n in ("device", "old-device")}
    servers = [factory.start(f"w{i}") for i in range(3)]
    users = [factory.make_user("d"), factory.make_user("f")]
    lab = Lab(factory, servers, users, venvs)
    lab.add("pi", server=0, agent_home="agents/pi")
    lab.add("old", server=1, python="old-device", agent_home="agents/old")
    lab.add("flaky", server=2, user=1, agent_home="agents/flaky")

    workspace, rep, evals = _workspace(root)
    half = workspace / "exports" / "half" / "1"  # a job killed mid-save: the .pb, no variables/
    half.mkdir(parents=True)
    (half / "saved_model.pb").write_bytes(b"\x08\x01" * 64)

    settings = PipelineSettings(
        root=workspace,
        modes=("dynamic", "int8"),
        rep_data=rep,
        eval_data=evals,
        deploy_to=DEVICES,
        bench=True,
        settle_s=1.0,
        bench_settings=BenchSettings(runs=5, warmup=1, min_seconds=0, warmup_min_seconds=0),
    )
    events: list[PipelineEvent] = []
    finished = threading.Event()
    down = DownAtPush(servers[2], users[1])

    def on_event(event: PipelineEvent) -> None:
        events.append(event)
        down(event)
        if event.step == "export" and event.status not in ("started", "skipped"):
            finished.set()

    studio = Studio()
    pipeline = Pipeline(studio)
    pipeline.start(settings, on_event=on_event)
    try:
        train = subprocess.run(
            [sys.executable, "-m", "tfstudio", "train", "--image", TF_IMAGE, "--gpus", "none",
             "--workspace", str(workspace), "--cpus", "2", "--memory", "2g", "--",
             "python", "train.py"],
            capture_output=True, text=True, cwd=REPO, timeout=300,
        )  # fmt: skip
        assert train.returncode == 0, train.stderr
        assert finished.wait(240), [e.line() for e in events]
    finally:
        assert pipeline.stop(60)
        studio.close()

    log = subprocess.run(
        [sys.executable, "-m", "tfstudio", "pipeline", "log", "--json"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert log.returncode == 0, log.stderr
    read = json.loads(log.stdout)
    job_id = train.stderr.split("provenance: ")[1].split()[0].split("/")[-2]
    return Run(
        home=home,
        workspace=workspace,
        export=workspace / "exports" / "digits" / "1",
        half=half,
        events=events,
        chains=read["chains"],
        errors=read["errors"],
        image_id=docker_api.inspect_image(TF_IMAGE)["Id"],
        job_id=job_id,
    )


@pytest.fixture(autouse=True)
def studio_home(run: Run, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test here reads the one run's TFSTUDIO_HOME."""
    monkeypatch.setenv("TFSTUDIO_HOME", str(run.home))
    return run.home


def test_the_export_is_converted_evaluated_and_benched_on_every_device_that_can_run_it(
    run: Run,
) -> None:
    from tfstudio.models.source import probe_source

    sha = probe_source(run.export).sha256
    assert {e.target for e in run.of("convert") if e.status == "ok"} == {"dynamic", "int8"}
    assert all(e.export == sha for e in run.of("convert"))
    accuracy = {e.target: e.data["accuracy"] for e in run.of("evaluate") if e.status == "ok"}
    assert set(accuracy) == {"dynamic", "int8"} and min(accuracy.values()) > 0.5
    results = {
        (e.chain["variant"]["mode"], e.target): e for e in run.of("deploy") if e.status != "started"
    }
    for mode, device in [("dynamic", "local"), ("dynamic", "pi"), ("int8", "local"),
                         ("int8", "pi"), ("int8", "old")]:  # fmt: skip
        event = results[(mode, device)]
        assert event.status == "ok", event.message
        assert event.data["active"] == event.chain["variant"]["sha256"]
        assert event.data["bench"]["p99_ms"] > 0


def test_the_old_device_refuses_dynamic_in_preflight_and_runs_int8(run: Run) -> None:
    [refused] = [e for e in run.of("deploy", "old") if e.chain["variant"]["mode"] == "dynamic"
                 and e.status != "started"]  # fmt: skip
    assert refused.status == "refused"
    assert "2.17" in refused.message and "2.14" in refused.message
    assert refused.data["active"] is None or refused.data["active"] != refused.data["sha256"]
    [int8] = [e for e in run.of("deploy", "old") if e.chain["variant"]["mode"] == "int8"
              and e.status != "started"]  # fmt: skip
    assert int8.status == "ok"


def test_a_device_down_mid_deploy_is_logged_in_one_line_and_the_others_are_done(
    run: Run,
) -> None:
    flaky = [e for e in run.of("deploy", "flaky") if e.status != "started"]
    assert [e.status for e in flaky] == ["failed", "failed"]
    assert all("\n" not in e.message and e.message.startswith("flaky:") for e in flaky)
    assert {(e["target"], e["step"]) for e in run.errors} == {("flaky", "deploy")}
    [export] = [e for e in run.of("export") if e.status != "started"]
    assert export.status == "failed" and "flaky" in export.message


def test_a_half_written_export_is_never_converted(run: Run) -> None:
    assert all(e.path != str(run.half) for e in run.events if e.export)
    [stopped] = [e for e in run.events if e.step == "watch" and e.status == "stopped"]
    assert str(run.half) in stopped.data["unsettled"]


def test_the_provenance_chain_reads_back_complete_for_each_device(run: Run) -> None:
    from tfstudio.models.source import probe_source

    sha = probe_source(run.export).sha256
    rows = {(r["mode"], r["device"]): r for r in run.chains}
    for device in ("local", "pi", "old"):
        row = rows[("int8", device)]
        assert row["complete"], row
        assert row["image_digest"] == run.image_id and row["job"] == run.job_id
        assert row["saved_model_sha256"] == sha and row["active"] == row["variant_sha256"]
        assert row["p99_ms"] > 0
    assert rows[("dynamic", "old")]["status"] == "refused"
    assert rows[("int8", "flaky")]["status"] == "failed"

    # The int8 manifest tells the same story from one file: train → convert → deploys.
    [converted] = [e for e in run.of("convert") if e.target == "int8" and e.status == "ok"]
    manifest = json.loads(Path(converted.data["manifest"]).read_text())
    steps = [s["step"] for s in manifest["chain"]]
    assert steps[:2] == ["train", "convert"] and steps.count("deploy") == 3
    train = manifest["chain"][0]
    assert train["image_digest"] == run.image_id and train["output_sha256"] == sha
    assert manifest["training"]["job"] == run.job_id
    assert {s["device"] for s in manifest["chain"][2:]} == {"local", "pi", "old"}
    assert manifest["model"]["sha256"] == rows[("int8", "pi")]["variant_sha256"]
