"""Parsing of what a job asks the engine for: GPUs, CPU/memory/shm limits, env, ports, mounts.

Pure functions over strings (the CLI's and tfstudio.toml's words), returning
frozen values; `docker` is imported only where a value is turned into an SDK
type. Every parse error is a UsageError that quotes the bad word.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from tfstudio.errors import UsageError

_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_SCALE = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PORT = re.compile(
    r"^(?:(?P<ip>\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?"
    r"(?:(?P<host>[0-9]+):)?(?P<cont>[0-9]+)(?:/(?P<proto>tcp|udp))?$"
)


def parse_size(text: str | int, what: str) -> int:
    """Returns a size in bytes from `4g`, `512m`, `2GiB`, `1.5g` or a plain byte count.

    Units are binary (k = 1024), as Docker reads them. Raises UsageError.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        match = _SIZE.match(str(text))
        if not match or (match.group(3) and not match.group(2) and match.group(3).lower() != "b"):
            raise UsageError(f"{what} {text!r} is not a size", hint="write e.g. 512m, 4g or 2GiB")
        value = int(float(match.group(1)) * _SCALE[match.group(2).lower()])
    if value <= 0:
        raise UsageError(f"{what} {text!r} must be more than zero")
    return value


def parse_cpus(text: str | float) -> float:
    """Returns a CPU count (fractions allowed, e.g. 1.5). Raises UsageError."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UsageError(f"--cpus {text!r} is not a number", hint="e.g. --cpus 2 or 0.5") from None
    if not 0 < value <= 4096:
        raise UsageError(f"--cpus {text!r} must be more than zero")
    return value


@dataclass(frozen=True)
class Limits:
    """Resource limits of a job; None means the engine's default (no limit)."""

    cpus: float | None = None
    memory: int | None = None
    shm_size: int | None = None

    def host_config(self) -> dict[str, Any]:
        """Returns the Docker SDK `create` keywords for these limits."""
        out: dict[str, Any] = {}
        if self.cpus is not None:
            out["nano_cpus"] = int(self.cpus * 1e9)
        if self.memory is not None:
            out["mem_limit"] = self.memory
        if self.shm_size is not None:
            out["shm_size"] = self.shm_size
        return out

    def to_json(self) -> dict[str, Any]:
        """Returns {cpus, memory_bytes, shm_bytes}."""
        return {"cpus": self.cpus, "memory_bytes": self.memory, "shm_bytes": self.shm_size}


@dataclass(frozen=True)
class GpuRequest:
    """Which GPUs a job asks for: none, all (count -1), a count, or device ids."""

    count: int = 0
    device_ids: tuple[str, ...] = ()

    @property
    def wanted(self) -> bool:
        """True when any GPU is asked for."""
        return self.count != 0 or bool(self.device_ids)

    def describe(self) -> str:
        """Returns the request as the CLI writes it: none, all, 2, 0,1."""
        if self.device_ids:
            return ",".join(self.device_ids)
        return {0: "none", -1: "all"}.get(self.count, str(self.count))

    def device_requests(self) -> list[Any]:
        """Returns the SDK DeviceRequests for `create` ([] for none)."""
        if not self.wanted:
            return []
        from docker.types import DeviceRequest

        if self.device_ids:
            return [DeviceRequest(device_ids=list(self.device_ids), capabilities=[["gpu"]])]
        return [DeviceRequest(count=self.count, capabilities=[["gpu"]])]


def parse_gpus(text: str) -> GpuRequest:
    """Returns the GpuRequest for `all`, `none`, a count `N`, ids `0,1` or `device=0`.

    Raises UsageError.
    """
    word = str(text).strip().lower()
    if word in ("none", ""):
        return GpuRequest()
    if word == "all":
        return GpuRequest(count=-1)
    if word.startswith("device="):
        word = word[len("device=") :]
        ids = tuple(w.strip() for w in word.split(",") if w.strip())
        if ids:
            return GpuRequest(device_ids=ids)
    elif "," in word:
        ids = tuple(w.strip() for w in word.split(",") if w.strip())
        if ids and all(re.match(r"^[a-z0-9-]+$", i) for i in ids):
            return GpuRequest(device_ids=ids)
    elif word.isdigit() and int(word) > 0:
        return GpuRequest(count=int(word))
    raise UsageError(
        f"--gpus {text!r} is not understood",
        hint="use all, none, a count (2), device ids (0,1) or device=0",
    )


def parse_env(items: list[str], environ: dict[str, str] | None = None) -> dict[str, str]:
    """Returns {KEY: value} from `K=V` words; a bare `K` copies this process's value.

    Raises UsageError for a bad key or a bare key that is not set here.
    """
    source = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not _ENV_KEY.match(key):
            raise UsageError(f"--env {item!r}: {key!r} is not a variable name")
        if not sep:
            if key not in source:
                raise UsageError(f"--env {key}: not set in this shell", hint=f"write {key}=VALUE")
            value = source[key]
        out[key] = value
    return out


def parse_publish(items: list[str]) -> dict[str, tuple[str, int]]:
    """Returns SDK `ports` from `PORT`, `HOST:CONTAINER` or `IP:HOST:CONTAINER[/udp]`.

    Without an IP the port is published on 127.0.0.1 only (a notebook or a
    TensorBoard should not face the network by accident). Raises UsageError.
    """
    out: dict[str, tuple[str, int]] = {}
    for item in items:
        match = _PORT.match(item.strip())
        if not match:
            raise UsageError(f"--publish {item!r} is not PORT, HOST:CONTAINER or IP:HOST:CONTAINER")
        cont = int(match.group("cont"))
        host = int(match.group("host") or cont)
        if not (0 < cont < 65536 and 0 < host < 65536):
            raise UsageError(f"--publish {item!r}: ports are 1-65535")
        ip = (match.group("ip") or "127.0.0.1").strip("[]")
        out[f"{cont}/{match.group('proto') or 'tcp'}"] = (ip, host)
    return out


@dataclass(frozen=True)
class MountSpec:
    """An extra bind mount: a path on the engine host, a path in the container, read-only?"""

    source: str
    target: str
    read_only: bool = False

    def to_json(self) -> dict[str, Any]:
        """Returns {source, target, read_only}."""
        return {"source": self.source, "target": self.target, "read_only": self.read_only}


def parse_mount(text: str) -> MountSpec:
    """Returns the MountSpec of `SRC:DST` or `SRC:DST:ro` (both absolute). Raises UsageError."""
    bad = next((c for c in text if ord(c) < 0x20 or ord(c) == 0x7F), None)
    if bad is not None:
        # Docker cannot bind such a path, and the engine's refusal would not name it.
        raise UsageError(
            f"--mount {text!r}: a control character ({bad!r}) in a path",
            hint="give the path without it (rename the folder, or link it under a plain name)",
        )
    parts = text.split(":")
    read_only = len(parts) == 3 and parts[2] in ("ro", "rw") and parts[2] == "ro"
    if len(parts) == 3 and parts[2] not in ("ro", "rw"):
        parts = []
    if len(parts) not in (2, 3) or not all(p.startswith("/") for p in parts[:2]):
        raise UsageError(
            f"mount {text!r} is not SRC:DST[:ro] with absolute paths",
            hint="e.g. /data/imagenet:/data:ro",
        )
    if parts[1] == "/workspace" or parts[1].startswith("/workspace/"):
        raise UsageError(f"mount {text!r}: /workspace is the job's workspace already")
    return MountSpec(parts[0], parts[1], read_only)
