"""Multi-worker jobs without an engine: TF_CONFIG, the group's state read from captured
swarm answers, and what is refused before anything is made.

The files under data/swarm/ are the engine's own answers (`services`, `tasks`,
`nodes`, `info`), captured on this machine's one-node swarm from real groups
of two busybox workers: running; failed (worker 1's container killed, worker
0 then stopped by tfstudio); stopped by the user; complete; rejected (a bind
path missing on the node). The multi-node and GPU node lists are made up in
the shape Docker documents, since no such swarm exists here.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tfstudio.errors import UsageError
from tfstudio.training.engines import local_engine
from tfstudio.training.errors import GpuRequestError, SwarmError, WorkspaceError
from tfstudio.training.grouplaunch import check_storage, gpu_reservation
from tfstudio.training.groups import _group
from tfstudio.training.groupspec import build_group_spec
from tfstudio.training.limits import parse_gpus
from tfstudio.training.settings import training_settings
from tfstudio.training.swarm import manager_refusal, state_from
from tfstudio.training.tfconfig import (
    check_group_name,
    index_script,
    k8s_cluster,
    swarm_cluster,
    tf_config,
)
from tfstudio.training.workers import group_state, worker_from

DATA = Path(__file__).parent / "data" / "swarm"
BUSYBOX = "tfstudio-test/busybox:1.35.0"


def captured(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


def group_of(name: str):
    data = captured(name)
    nodes = {n["ID"]: n["Description"]["Hostname"] for n in data["nodes"]}
    return _group("local", data["services"], data["tasks"], nodes)


# -- TF_CONFIG ------------------------------------------------------------------


def test_tf_config_names_every_worker_and_this_one() -> None:
    cluster = swarm_cluster("digits", 3, 2222)
    assert cluster == ["digits-w0:2222", "digits-w1:2222", "digits-w2:2222"]
    config = json.loads(tf_config(cluster, 2))
    assert config == {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": 2}}
    with pytest.raises(UsageError):
        tf_config(cluster, 3)


def test_group_names_must_be_dns_labels() -> None:
    assert check_group_name("mnist-2x") == "mnist-2x"
    for bad in ("Upper", "under_score", "-lead", "trail-", "x" * 41, "dots.are.out"):
        with pytest.raises(UsageError):
            check_group_name(bad)


@pytest.mark.parametrize("shell", [["sh"], ["busybox", "sh"]])
def test_the_index_script_exports_the_same_tf_config_for_each_index(shell: list[str]) -> None:
    import shutil

    if shutil.which(shell[0]) is None:
        pytest.fail(f"{shell[0]} is missing (scripts/prepare-test-env.sh installs busybox-static)")
    cluster = k8s_cluster("job", 4)
    script = index_script(cluster)
    show = ["sh", "-c", 'printf %s "$TF_CONFIG"'] if shell == ["sh"] else ["printenv", "TF_CONFIG"]
    for index in range(4):
        proc = subprocess.run(
            [*shell, "-c", script, "tfstudio-worker", *show],
            env={"JOB_COMPLETION_INDEX": str(index), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == tf_config(cluster, index)
    for bad in ("", "4", "01", "-1", "x"):
        proc = subprocess.run(
            [*shell, "-c", script, "tfstudio-worker", "true"],
            env={"JOB_COMPLETION_INDEX": bad, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 64 and "tfstudio:" in proc.stderr, bad


# -- the group's state from the engine's answers ----------------------------------


def test_a_running_group() -> None:
    job = group_of("group_running")
    assert job.is_group and job.running and job.state == "running"
    assert [w.index for w in job.workers] == [0, 1]
    assert all(w.state == "running" and w.node == "vm" for w in job.workers)
    assert job.exit_code is None and job.failure is None and job.exit_reason() is None
    assert job.image_ref == BUSYBOX and job.image_id.startswith("sha256:")
    assert job.container_id == "" and job.command[0] == "sh"


def test_a_killed_worker_is_the_cause_and_the_other_one_was_stopped_by_tfstudio() -> None:
    job = group_of("group_failed")
    assert job.state == "failed" and not job.running
    w0, w1 = job.workers
    assert w1.failed and w1.exit_code == 137 and w1.stopped_by is None
    assert not w0.failed and w0.stopped_by == "group" and w0.state == "shutdown"
    assert job.failure == "worker 1 failed on vm: killed (SIGKILL, exit 137)"
    assert job.exit_code == 137 and job.exit_reason() == job.failure
    assert "by tfstudio (group)" in w0.reason()


def test_a_group_stopped_by_the_user_did_not_fail() -> None:
    job = group_of("group_stopped")
    assert job.state == "exited" and job.failure is None
    assert job.exit_code == 143 and job.exit_reason() == "stopped (SIGTERM, exit 143)"
    assert {w.stopped_by for w in job.workers} == {"stop"}
    # The task that waits unplaceable after the stop is not the worker's.
    data = captured("group_stopped")
    assert len(data["tasks"]) == 4


def test_a_complete_group_exits_0() -> None:
    job = group_of("group_complete")
    assert (job.state, job.exit_code, job.failure) == ("exited", 0, None)
    assert job.finished_ns and job.finished_ns >= (job.started_ns or 0)


def test_a_rejected_worker_fails_the_group_with_the_engines_reason() -> None:
    job = group_of("group_rejected")
    assert job.state == "failed" and job.exit_code == 125
    assert "rejected: invalid mount config" in (job.failure or "")
    assert "bind source path does not exist: /nonexistent/tfstudio-ws" in (job.failure or "")


def test_while_one_worker_failed_and_the_other_runs_the_group_is_failing() -> None:
    data = captured("group_failed")
    nodes = {n["ID"]: n["Description"]["Hostname"] for n in data["nodes"]}
    workers = [worker_from(s, data["tasks"], nodes) for s in data["services"]]
    alive = [w for w in workers if w.index == 0][0]
    dead = [w for w in workers if w.index == 1][0]
    from dataclasses import replace

    state = group_state([replace(alive, state="running", stopped_by=None), dead])
    assert state.state == "failing" and state.exit_code is None
    assert state.failure == "worker 1 failed on vm: killed (SIGKILL, exit 137)"


def test_group_json_keeps_a_containers_job_json_as_it_was() -> None:
    job = group_of("group_failed")
    out = job.to_json()
    assert out["failure"] == job.failure and len(out["workers"]) == 2
    assert out["workers"][1]["reason"] == "killed (SIGKILL, exit 137)"
    from dataclasses import replace

    single = replace(job, workers=(), failure=None).to_json()
    assert "workers" not in single and "failure" not in single


# -- the swarm: manager or not, nodes, GPUs ------------------------------------------


def test_an_engine_outside_a_swarm_is_refused_with_how_to_make_it_one() -> None:
    state = state_from(captured("info_swarm_inactive"), [])
    assert not state.manager and state.summary() == "not in a swarm"
    error = manager_refusal("local", "this machine", state)
    assert isinstance(error, SwarmError)
    assert "engine local is not a swarm manager (not in a swarm)" in error.message
    assert "docker swarm init --advertise-addr" in (error.hint or "")


def test_a_worker_node_is_told_to_use_a_manager() -> None:
    state = state_from({"LocalNodeState": "active", "ControlAvailable": False}, [])
    error = manager_refusal("gpubox", "gpu-box", state)
    assert error is not None and "worker node" in error.message
    assert "docker node promote" in (error.hint or "")


def test_this_machines_one_node_swarm() -> None:
    state = state_from(captured("info_swarm_manager"), captured("group_running")["nodes"])
    assert state.manager and (state.nodes, state.ready) == (1, 1)
    assert state.summary() == "manager, 1/1 node(s) ready"
    assert manager_refusal("local", "this machine", state) is None
    assert state.gpu_kind() is None


def _node(name: str, gpus: list[dict] | None = None, ready: bool = True) -> dict:
    return {
        "ID": name,
        "Spec": {"Availability": "active"},
        "Status": {"State": "ready" if ready else "down"},
        "Description": {"Hostname": name, "Resources": {"GenericResources": gpus or []}},
    }


def test_gpus_go_through_the_nodes_generic_resources() -> None:
    named = [{"NamedResourceSpec": {"Kind": "NVIDIA-GPU", "Value": f"GPU-{i}"}} for i in range(4)]
    discrete = [{"DiscreteResourceSpec": {"Kind": "NVIDIA-GPU", "Value": 2}}]
    swarm = {"LocalNodeState": "active", "ControlAvailable": True}
    state = state_from(swarm, [_node("a", named), _node("b", discrete), _node("c", ready=False)])
    assert (state.nodes, state.ready) == (3, 2) and state.gpu_kind() == "NVIDIA-GPU"
    assert gpu_reservation("e", parse_gpus("4"), state) == {"NVIDIA-GPU": 4}
    assert gpu_reservation("e", parse_gpus("none"), state) == {}
    with pytest.raises(GpuRequestError) as info:
        gpu_reservation("e", parse_gpus("5"), state)
    assert "no ready node" in info.value.message and "at most 4" in info.value.message
    for words in ("all", "0,1"):
        with pytest.raises(GpuRequestError) as info:
            gpu_reservation("e", parse_gpus(words), state)
        assert "by count" in info.value.message and "--gpus 1" in (info.value.hint or "")
    plain = state_from(swarm, [_node("a")])
    with pytest.raises(GpuRequestError) as info:
        gpu_reservation("e", parse_gpus("1"), plain)
    assert "offers no GPUs" in info.value.message
    assert "node-generic-resources" in (info.value.hint or "")


def test_a_bind_mount_across_nodes_needs_to_be_said_shared(tmp_path: Path) -> None:
    swarm = {"LocalNodeState": "active", "ControlAvailable": True}
    one = state_from(swarm, [_node("a")])
    two = state_from(swarm, [_node("a"), _node("b")])
    engine = local_engine()
    words = {"image": BUSYBOX, "gpus": "none", "workspace": str(tmp_path)}
    spec = build_group_spec(engine, training_settings(), ["true"], workers=2, **words)
    check_storage("local", spec, one)
    with pytest.raises(WorkspaceError) as info:
        check_storage("local", spec, two)
    assert "2 ready nodes" in info.value.message and str(tmp_path) in info.value.message
    assert "--shared-workspace" in (info.value.hint or "") and "--volume" in (info.value.hint or "")
    shared = build_group_spec(
        engine, training_settings(), ["true"], workers=2, shared_workspace=True, **words
    )
    check_storage("local", shared, two)
    volume = build_group_spec(
        engine, training_settings(), ["true"], workers=2, volume="ml-data", image=BUSYBOX
    )
    check_storage("local", volume, two)
    assert volume.storage.describe().startswith("volume ml-data")
    mounted = build_group_spec(
        engine, training_settings(), ["true"], workers=2, volume="ml-data", image=BUSYBOX,
        mounts=["/data:/data:ro"],
    )  # fmt: skip
    with pytest.raises(WorkspaceError) as info:
        check_storage("local", mounted, two)
    assert "/data" in info.value.message


def test_what_a_multi_worker_request_refuses_before_any_engine(tmp_path: Path) -> None:
    engine = local_engine()
    base = {"image": BUSYBOX, "workspace": str(tmp_path)}
    cases = [
        ({"workers": 1}, "2 to 64 workers"),
        ({"workers": 65}, "2 to 64 workers"),
        ({"workers": 2, "publish": ["6006"]}, "--publish is for one-container jobs"),
        ({"workers": 2, "name": "Not_DNS"}, "cannot name a multi-worker job"),
        ({"workers": 2, "volume": "bad/name", "workspace": None}, "not a volume name"),
        ({"workers": 2, "volume": "v"}, "not both"),
        ({"workers": 2, "port": 80}, "1024 to 65535"),
    ]
    for words, expected in cases:
        with pytest.raises(UsageError) as info:
            build_group_spec(engine, training_settings(), ["true"], **{**base, **words})
        assert expected in info.value.message, words
