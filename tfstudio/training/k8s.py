"""The same multi-worker job as Kubernetes manifests: an Indexed Job and a headless Service.

`tfstudio train --workers N --emit k8s DIR` writes what a cluster needs to run
the job tfstudio would run on a swarm: the same image, command, env, limits
and GPU requests (`nvidia.com/gpu`), N pods of one Job with `completionMode:
Indexed`, and a headless Service named like the Job, which is every pod's
subdomain, so `NAME-I.NAME` resolves to pod I. Each pod builds its own
`TF_CONFIG` from `JOB_COMPLETION_INDEX` (`tfstudio.training.tfconfig`), then
runs the command. `backoffLimit: 0`: one failed pod fails the Job, and
Kubernetes then ends the others, as a swarm group's workers are stopped.

Nothing here talks to a cluster. The YAML is written by a small emitter for
this data (mappings, lists, strings, numbers, booleans), so no YAML library
is needed; every string is quoted or a literal block.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfstudio.atomic import write_text_atomic
from tfstudio.errors import UsageError
from tfstudio.training.groupspec import SHM, VOLUME, GroupSpec
from tfstudio.training.jobspec import WORKDIR
from tfstudio.training.labels import new_job_id
from tfstudio.training.tfconfig import index_script, k8s_cluster

GPU_RESOURCE = "nvidia.com/gpu"
"""The extended resource NVIDIA's device plugin offers."""
PORT_NAME = "tf-worker"
MANAGED_BY = {"app.kubernetes.io/managed-by": "tfstudio"}


@dataclass(frozen=True)
class Manifests:
    """What `emit_k8s` wrote: the job's name, its files, and what to know before applying."""

    name: str
    workers: int
    directory: Path
    files: tuple[Path, ...]
    notes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """Returns {name, workers, directory, files, notes, apply}."""
        return {
            "name": self.name,
            "workers": self.workers,
            "directory": str(self.directory),
            "files": [str(f) for f in self.files],
            "notes": list(self.notes),
            "apply": f"kubectl apply -f {self.directory}",
        }


def manifests(spec: GroupSpec, name: str) -> list[dict[str, Any]]:
    """Returns [Service, Job] for `spec` named `name`. Raises UsageError for GPUs that are
    not a count (a pod asks for a number of `nvidia.com/gpu`)."""
    job = spec.job
    labels = {**MANAGED_BY, "tfstudio/job": name}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "clusterIP": "None",
            "selector": {"job-name": name},
            # Workers look each other up while starting, before any is "ready".
            "publishNotReadyAddresses": True,
            "ports": [
                {"name": PORT_NAME, "port": spec.port, "targetPort": spec.port, "protocol": "TCP"}
            ],
        },
    }
    mounts, volumes = _volumes(spec)
    container: dict[str, Any] = {
        "name": "worker",
        "image": job.image.text,
        "command": [
            "sh",
            "-c",
            index_script(k8s_cluster(name, spec.workers, spec.port)),
            "tfstudio-worker",
        ],  # fmt: skip
        "args": list(job.command),
        "workingDir": WORKDIR,
        "ports": [{"name": PORT_NAME, "containerPort": spec.port, "protocol": "TCP"}],
        "volumeMounts": mounts,
    }
    if job.env:
        container["env"] = [{"name": k, "value": v} for k, v in job.env]
    resources = _resources(spec)
    if resources:
        container["resources"] = {"limits": resources, "requests": dict(resources)}
    pod = {
        "metadata": {"labels": labels},
        "spec": {
            "subdomain": name,
            "restartPolicy": "Never",
            "containers": [container],
            "volumes": volumes,
        },
    }
    batch = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "completionMode": "Indexed",
            "completions": spec.workers,
            "parallelism": spec.workers,
            "backoffLimit": 0,
            "template": pod,
        },
    }
    return [service, batch]


def emit_k8s(spec: GroupSpec, directory: Path) -> Manifests:
    """Writes the job's Service and Job into `directory` (made if missing); returns them.

    Raises UsageError (GPUs not a count), OutputError.
    """
    name = spec.job.name or f"tfstudio-{new_job_id()}"
    docs = manifests(spec, name)
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for doc in docs:
        path = directory / f"{name}-{doc['kind'].lower()}.yaml"
        write_text_atomic(path, to_yaml(doc))
        files.append(path)
    notes = [
        f"image {spec.job.image.text}: every node must be able to pull it (push a locally "
        "built image to a registry the cluster reads; a digest pins it)",
        _storage_note(spec),
    ]
    if spec.job.env:
        notes.append("env values are written into the Job as they are: use a Secret for secrets")
    return Manifests(name, spec.workers, directory, tuple(files), tuple(notes))


def _volumes(spec: GroupSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    mounts: list[dict[str, Any]] = [{"name": "workspace", "mountPath": WORKDIR}]
    if spec.storage.kind == VOLUME:
        workspace: dict[str, Any] = {"persistentVolumeClaim": {"claimName": spec.storage.source}}
    else:
        workspace = {"hostPath": {"path": spec.storage.source, "type": "Directory"}}
    volumes: list[dict[str, Any]] = [{"name": "workspace", **workspace}]
    for i, extra in enumerate(spec.job.mounts):
        name = f"mount-{i}"
        mounts.append({"name": name, "mountPath": extra.target, "readOnly": extra.read_only})
        volumes.append({"name": name, "hostPath": {"path": extra.source}})
    if spec.job.limits.shm_size is not None:
        size = _quantity_bytes(spec.job.limits.shm_size)
        mounts.append({"name": "dshm", "mountPath": SHM})
        volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": size}})
    return mounts, volumes


def _resources(spec: GroupSpec) -> dict[str, str]:
    limits = spec.job.limits
    gpus = spec.job.gpus
    out: dict[str, str] = {}
    if limits.cpus is not None:
        milli = round(limits.cpus * 1000)
        out["cpu"] = str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"
    if limits.memory is not None:
        out["memory"] = _quantity_bytes(limits.memory)
    if gpus.wanted:
        if gpus.count < 1:
            raise UsageError(
                f"--gpus {gpus.describe()}: a pod asks for a number of {GPU_RESOURCE}",
                hint="give how many each worker needs, e.g. --gpus 1",
            )
        out[GPU_RESOURCE] = str(gpus.count)
    return out


def _quantity_bytes(size: int) -> str:
    for unit, scale in (("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if size % scale == 0:
            return f"{size // scale}{unit}"
    return str(size)


def _storage_note(spec: GroupSpec) -> str:
    if spec.storage.kind == VOLUME:
        return (
            f"workspace: PersistentVolumeClaim {spec.storage.source} (ReadWriteMany, so that "
            "pods on several nodes share it)"
        )
    return (
        f"workspace: hostPath {spec.storage.source}, which must hold the same files on every "
        "node a worker may run on (or use --volume CLAIM)"
    )


# -- YAML ---------------------------------------------------------------------

_PLAIN_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_./-]*$")
_YAML_WORDS = {"y", "yes", "n", "no", "on", "off", "true", "false", "null"}


def to_yaml(data: Any) -> str:
    """Returns `data` (mappings, lists, str, int, float, bool) as block-style YAML.

    Strings are JSON-quoted (a valid YAML double-quoted scalar) or, when
    multi-line, literal blocks; so no value is ever read back as another type.
    """
    return "\n".join(_node(data, 0)) + "\n"


def _node(data: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(data, dict):
        if not data:
            return [pad + "{}"]
        lines = []
        for key, value in data.items():
            head = f"{pad}{_key(str(key))}:"
            lines += _entry(head, value, indent)
        return lines
    if isinstance(data, list):
        if not data:
            return [pad + "[]"]
        lines = []
        for item in data:
            if isinstance(item, str) and "\n" in item and _literal_ok(item):
                lines += _literal(f"{pad}-", item, indent)
                continue
            inner = _node(item, indent + 2)
            first = inner[0][indent + 2 :]
            lines.append(f"{pad}- {first}")
            lines += inner[1:]
        return lines
    return [pad + _scalar(data, indent)]


def _entry(head: str, value: Any, indent: int) -> list[str]:
    if isinstance(value, dict) and value:
        return [head, *_node(value, indent + 2)]
    if isinstance(value, list) and value:
        return [head, *_node(value, indent)]
    if isinstance(value, str) and "\n" in value and _literal_ok(value):
        return _literal(head, value, indent)
    return [f"{head} {_node(value, 0)[0]}"]


def _literal(head: str, text: str, indent: int) -> list[str]:
    """Returns `text` as a literal block (`|`, or `|-` without a final newline) after `head`."""
    chomp = "" if text.endswith("\n") else "-"
    body = text[:-1] if text.endswith("\n") else text
    return [f"{head} |{chomp}", *(" " * (indent + 2) + line for line in body.split("\n"))]


def _scalar(value: Any, indent: int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return json.dumps(str(value), ensure_ascii=False)


def _key(key: str) -> str:
    if _PLAIN_KEY.match(key) and key.lower() not in _YAML_WORDS:
        return key
    return json.dumps(key, ensure_ascii=False)


def _literal_ok(text: str) -> bool:
    lines = text.rstrip("\n").split("\n")
    return (
        "\t" not in text
        and "\r" not in text
        and not text.endswith("\n\n")
        and all(line == line.rstrip() for line in lines)
        and bool(lines[0].strip())
        and not lines[0].startswith(" ")
    )
