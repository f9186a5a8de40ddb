"""`train --workers N --emit k8s DIR`: the job as an Indexed Job and a headless Service.

There is no cluster here, so the manifests are held to the official
`kubernetes` client's models: every field must be one the model declares
(`attribute_map`), with the declared type (`openapi_types`), walked by hand so
that it holds whatever the client's version does with unknown fields; and,
where the models are pydantic (client 32+), they must validate strictly too.
Then each pod's `TF_CONFIG` script is run for every index.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tfstudio.cli import main
from tfstudio.training.tfconfig import tf_config

kclient = pytest.importorskip("kubernetes.client", reason="pip install -e .[dev] (kubernetes)")
yaml = pytest.importorskip("yaml")

IMAGE = "tensorflow/tensorflow:2.21.0-gpu"
PRIMITIVES: dict[str, Any] = {"str": str, "int": int, "bool": bool, "float": (int, float)}


def conforms(value: Any, declared: str, path: str) -> None:
    """Asserts that `value` is what the client declares `declared` to be, field by field."""
    declared = declared.strip()
    listed = re.match(r"^(?:List\[|list\[)(.*)\]$", declared)
    if listed:
        assert isinstance(value, list), f"{path}: a list, not {value!r}"
        for i, item in enumerate(value):
            conforms(item, listed.group(1), f"{path}[{i}]")
        return
    mapped = re.match(r"^(?:Dict\[str,\s*(.*)\]|dict\(str,\s*(.*)\))$", declared)
    if mapped:
        assert isinstance(value, dict), f"{path}: a mapping, not {value!r}"
        for key, item in value.items():
            assert isinstance(key, str), f"{path}: key {key!r}"
            conforms(item, mapped.group(1) or mapped.group(2), f"{path}.{key}")
        return
    if declared == "object":  # IntOrString, quantities of old clients
        assert isinstance(value, (str, int)) and not isinstance(value, bool), path
        return
    if declared in PRIMITIVES:
        if declared in ("int", "float"):
            assert not isinstance(value, bool), f"{path}: a number, not a bool"
        assert isinstance(value, PRIMITIVES[declared]), f"{path}: {declared}, not {value!r}"
        return
    model = getattr(kclient, declared)
    assert isinstance(value, dict), f"{path}: a {declared} mapping, not {value!r}"
    by_json = {json_key: name for name, json_key in model.attribute_map.items()}
    unknown = sorted(set(value) - set(by_json))
    assert not unknown, f"{path}: {declared} has no field(s) {unknown}"
    for key, item in value.items():
        conforms(item, model.openapi_types[by_json[key]], f"{path}.{key}")


def load_as_model(doc: dict[str, Any]) -> Any:
    """Holds `doc` to its model; returns the client's object for it."""
    kind = {"Job": "V1Job", "Service": "V1Service"}[doc["kind"]]
    conforms(doc, kind, doc["kind"])
    model = getattr(kclient, kind)
    if hasattr(model, "model_validate"):
        return model.model_validate(doc, strict=True)
    return kclient.ApiClient()._ApiClient__deserialize(doc, kind)


def emit(tmp_path: Path, workers: int, *words: str) -> tuple[dict, dict, Path]:
    out = tmp_path / f"k8s-{workers}-{len(words)}"
    code = main(
        ["train", "--workers", str(workers), "--emit", "k8s", str(out), "--image", IMAGE,
         "--name", "mnist", *words, "--", "python", "train.py", "--epochs", "3"]
    )  # fmt: skip
    assert code == 0
    docs = {}
    for path in sorted(out.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        docs[doc["kind"]] = doc
    return docs["Service"], docs["Job"], out


@pytest.mark.parametrize("workers", [1, 2, 4])
@pytest.mark.parametrize("gpus", ["none", "2"])
def test_manifests_load_into_the_official_models(
    tmp_path: Path, workers: int, gpus: str, capsys: pytest.CaptureFixture[str]
) -> None:
    words = ["--gpus", gpus, "--cpus", "3.5", "--memory", "6g", "--shm-size", "1g",
             "-e", "EPOCHS=3", "--volume", "ml-data", "--mount", "/datasets:/data:ro"]  # fmt: skip
    service, job, out = emit(tmp_path, workers, *words)
    printed = capsys.readouterr()
    assert f"kubectl apply -f {out}" in printed.err
    assert "PersistentVolumeClaim ml-data" in printed.err
    assert sorted(p.name for p in out.iterdir()) == ["mnist-job.yaml", "mnist-service.yaml"]

    svc = load_as_model(service)
    assert svc.spec.cluster_ip == "None" and svc.spec.selector == {"job-name": "mnist"}
    assert [p.port for p in svc.spec.ports] == [12345]

    batch = load_as_model(job)
    spec = batch.spec
    assert spec.completion_mode == "Indexed" and spec.completions == spec.parallelism == workers
    assert spec.backoff_limit == 0
    pod = spec.template.spec
    assert pod.subdomain == "mnist" and pod.restart_policy == "Never"
    [container] = pod.containers
    assert container.image == IMAGE and container.args == ["python", "train.py", "--epochs", "3"]
    assert container.command[:2] == ["sh", "-c"] and container.working_dir == "/workspace"
    assert [(e.name, e.value) for e in container.env] == [("EPOCHS", "3")]
    limits = container.resources.limits
    assert limits["cpu"] == "3500m" and limits["memory"] == "6Gi"
    assert container.resources.requests == limits
    if gpus == "none":
        assert "nvidia.com/gpu" not in limits
    else:
        assert limits["nvidia.com/gpu"] == "2"
    volumes = {v.name: v for v in pod.volumes}
    assert volumes["workspace"].persistent_volume_claim.claim_name == "ml-data"
    assert volumes["mount-0"].host_path.path == "/datasets"
    assert volumes["dshm"].empty_dir.medium == "Memory"
    assert volumes["dshm"].empty_dir.size_limit == "1Gi"
    mounts = {m.mount_path: m for m in container.volume_mounts}
    assert mounts["/data"].read_only and "/workspace" in mounts and "/dev/shm" in mounts


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_each_pod_builds_its_tf_config_from_its_completion_index(
    tmp_path: Path, workers: int
) -> None:
    _service, job, _out = emit(tmp_path, workers, "--workspace", "/srv/ml", "--gpus", "none")
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert job["spec"]["template"]["spec"]["volumes"][0]["hostPath"]["path"] == "/srv/ml"
    cluster = [f"mnist-{i}.mnist:12345" for i in range(workers)]
    for index in range(workers):
        proc = subprocess.run(
            [*container["command"], "sh", "-c", 'printf %s "$TF_CONFIG"; echo; echo "$@"', "-",
             *container["args"]],
            env={"JOB_COMPLETION_INDEX": str(index), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        config, argv = proc.stdout.splitlines()
        assert config == tf_config(cluster, index)
        assert json.loads(config)["task"] == {"type": "worker", "index": index}
        assert argv == "python train.py --epochs 3"  # the command reaches the image as given


def test_what_manifests_refuse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["train", "--emit", "k8s", str(tmp_path / "out"), "--image", IMAGE]
    cases = [
        ([*base, "--workers", "2", "--gpus", "all", "--volume", "v"], "a number of nvidia.com/gpu"),
        ([*base, "--workers", "2", "--volume", "v", "--gpus", "0,1"], "a number of nvidia.com/gpu"),
        ([*base, "--workers", "2", "--workspace", "relative"], "a path on the cluster's nodes"),
        ([*base, "--volume", "v"], "needs --workers N"),
        ([*base, "--workers", "2", "--volume", "v", "--name", "Bad_Name"], "cannot name"),
        (["train", "--emit", "helm", "d", "--workers", "2", "--image", IMAGE], "one format is k8s"),
        ([*base, "--workers", "2", "--volume", "v", "--image", "tensorflow/tensorflow"], "tag"),
    ]
    for argv, expected in cases:
        assert main([*argv, "--", "python", "train.py"]) != 0, argv
        assert expected in capsys.readouterr().err, argv
    assert not (tmp_path / "out").exists()


def test_the_yaml_emitter_reads_back_as_written() -> None:
    from tfstudio.training.k8s import to_yaml

    data = {
        "on": "yes",
        "no": ["true", "123", "0x1F", "~", "null", "", " lead", "trail ", "a: b", "# c", "- d"],
        "nested": {"list": [{"a": 1, "b": [True, False, 2.5]}, [], {}], "empty": {}},
        "script": "line 1\n  indented\nlast\n",
        "no final newline": "x\ny",
        "trailing spaces": "x  \ny\n",
        "tabs": "a\tb\nc",
        "unicode": "é ✓",
        "items": ["one\ntwo\n", "plain"],
    }
    assert yaml.safe_load(to_yaml(data)) == data
