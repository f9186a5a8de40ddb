"""The real docker CLI as a test oracle: what it resolves, and how it connects.

`/usr/bin/docker` is Debian's docker.io (20.10, what scripts/docker-test-env.sh
installs); another `docker` first on PATH (a newer release) is asked too. Each
runs with exactly the environment given (plus PATH), as `env -i` would.

- `cli_endpoint` asks `docker context inspect` (the current context) and
  returns its endpoint, TLS mode and TLS files, or that the CLI refused;
- `tfstudio_endpoint` returns the same from tfstudio's reading of that
  environment, for comparison.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tfstudio.training.dockercontext import resolve

DEBIAN_CLI = "/usr/bin/docker"
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def docker_clis() -> list[str]:
    """Returns the docker CLIs on this machine: Debian's first, then another on PATH."""
    found: list[str] = []
    for candidate in (DEBIAN_CLI, shutil.which("docker")):
        if candidate and os.path.isfile(candidate):
            if all(not os.path.samefile(candidate, seen) for seen in found):
                found.append(candidate)
    return found


def cli_major(cli: str) -> int:
    """Returns the CLI's major version (20 for 20.10.24+dfsg1)."""
    out = subprocess.run([cli, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"version (\d+)\.", out)
    assert match, out
    return int(match.group(1))


def run_cli(
    cli: str, env: Mapping[str, str], *args: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Runs the CLI with `env` (and PATH) only."""
    return subprocess.run(
        [cli, *args],
        capture_output=True,
        text=True,
        env={"PATH": PATH, **env},
        timeout=timeout,
    )


@dataclass(frozen=True)
class Resolved:
    """An endpoint as both sides describe it; `refused` when one side would not use it."""

    url: str = ""
    tls: str | None = None
    """None (plain), `verify` or `no-verify`."""
    files: tuple[str, ...] = ()
    """The TLS files read (ca.pem, cert.pem, key.pem)."""
    refused: bool = False


REFUSED = Resolved(refused=True)


def cli_endpoint(cli: str, env: Mapping[str, str]) -> tuple[Resolved, str]:
    """Returns what `docker context inspect` says of the current context, and its stderr."""
    proc = run_cli(cli, env, "context", "inspect")
    try:
        found = json.loads(proc.stdout)
    except ValueError:
        found = []
    if proc.returncode != 0 or not found:
        return REFUSED, proc.stderr.strip()
    docker = found[0]["Endpoints"]["docker"]
    files = tuple(sorted((found[0].get("TLSMaterial") or {}).get("docker") or ()))
    skip = bool(docker.get("SkipTLSVerify"))
    tls = ("no-verify" if skip else "verify") if (files or skip) else None
    return Resolved(docker["Host"], tls, files), proc.stderr.strip()


def tfstudio_endpoint(env: Mapping[str, str]) -> Resolved:
    """Returns tfstudio's reading of the same environment."""
    ep = resolve(dict(env))
    if ep.problem:
        return REFUSED
    files = tuple(sorted(Path(p).name for p in (ep.ca, ep.cert, ep.key) if p))
    return Resolved(ep.url, ep.tls_mode, files)


def cli_contexts(cli: str, env: Mapping[str, str]) -> list[dict[str, object]]:
    """Returns `docker context ls` as (Name, Current, DockerEndpoint) records."""
    proc = run_cli(cli, env, "context", "ls", "--format", "{{json .}}")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return [{"name": r["Name"], "current": r["Current"], "url": r["DockerEndpoint"]} for r in rows]
