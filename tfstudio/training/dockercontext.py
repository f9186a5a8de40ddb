"""Which engine `docker` talks to: the CLI's environment, config.json and context store.

tfstudio's built-in `local` engine is whatever the docker CLI would use, read
with the CLI's own rules (docker/cli `cli/command/cli.go`, `cli/flags`,
`cli/context/docker`), checked against the real CLI in the tests:

1. DOCKER_HOST, when non-empty: the `default` context at that address;
2. DOCKER_CONTEXT, when non-empty: that context;
3. `currentContext` in `$DOCKER_CONFIG/config.json` (`docker context use`);
4. the `default` context: the local socket.

The `default` context takes TLS from the environment: TLS is on when
DOCKER_TLS_VERIFY is non-empty (with verification, whatever its value, even
"0") or DOCKER_TLS is non-empty (without); the files are `ca.pem` (required),
`cert.pem` and `key.pem` (each used when present; a client certificate needs
both) in DOCKER_CERT_PATH, else in the config directory. DOCKER_CERT_PATH
alone does not turn TLS on. A named context ignores those variables: its
endpoint and `SkipTLSVerify` are in `contexts/meta/<sha256(name)>/meta.json`,
its TLS files in `contexts/tls/<sha256(name)>/docker/`, and TLS is on when any
file is there or `SkipTLSVerify` is set.

Where the CLI changed between releases, tfstudio follows the current one
(after 20.10; 28.2 is checked here): an empty DOCKER_HOST or DOCKER_CONTEXT
counts as unset (20.10 let an empty DOCKER_HOST pick `default` and refused an
empty DOCKER_CONTEXT), and TLS settings do not apply to unix:// and ssh://
addresses (20.10 tried TLS over the socket and failed). Docker's own docs say
DOCKER_CONTEXT overrides DOCKER_HOST and that a port defaults to 2376 under
TLS; both CLIs do otherwise, and tfstudio does what they do.
Nothing here connects or imports docker.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tfstudio.training.dockerhost import (
    DEFAULT_SOCKET_URL,
    DockerHostError,
    parse_docker_host,
)

DEFAULT_CONTEXT = "default"
TLS_FILES = ("ca.pem", "cert.pem", "key.pem")


@dataclass(frozen=True)
class DockerEndpoint:
    """Where one context (or the environment) points, and with which TLS."""

    url: str
    context: str
    """`default` or the context's name."""
    source: str
    """Why this endpoint: `DOCKER_HOST`, `context X (DOCKER_CONTEXT)`, `default socket`..."""
    tls: bool = False
    tls_verify: bool = False
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    problem: str | None = None
    """Why the CLI would refuse to use it (then nothing may connect)."""
    hint: str | None = None
    notes: tuple[str, ...] = ()
    """What the user may not expect (DOCKER_HOST hiding a context, an unreadable config)."""

    @property
    def tls_mode(self) -> str | None:
        """`verify`, `no-verify`, or None without TLS."""
        if not self.tls:
            return None
        return "verify" if self.tls_verify else "no-verify"


@dataclass(frozen=True)
class DockerContext:
    """One entry of `docker context ls`."""

    name: str
    endpoint: DockerEndpoint
    current: bool
    description: str = ""
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Returns the name, endpoint URL, TLS mode and whether it is current."""
        ep = self.endpoint
        return {
            "name": self.name,
            "current": self.current,
            "url": ep.url,
            "tls": ep.tls_mode,
            "ca": ep.ca,
            "cert": ep.cert,
            "key": ep.key,
            "description": self.description,
            "error": self.error or ep.problem,
        }


@dataclass(frozen=True)
class _Choice:
    name: str
    why: str
    notes: tuple[str, ...] = field(default=())


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """Returns the CLI's config directory: DOCKER_CONFIG, else ~/.docker."""
    env = os.environ if env is None else env
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"])
    return Path(env.get("HOME") or Path.home()) / ".docker"


def context_id(name: str) -> str:
    """Returns the directory name of context `name` in the store (sha256 of the name)."""
    return hashlib.sha256(name.encode()).hexdigest()


def resolve(env: Mapping[str, str] | None = None) -> DockerEndpoint:
    """Returns the endpoint `docker` would use with this environment (default: os.environ)."""
    env = os.environ if env is None else env
    choice = _choose(env)
    if choice.name != DEFAULT_CONTEXT:
        ep = context_endpoint(choice.name, env, why=choice.why)
    else:
        ep = default_endpoint(env)
        if choice.why not in ("DOCKER_HOST", "default"):
            ep = replace(ep, source=f"context default ({choice.why}): {ep.source}")
    return replace(ep, notes=ep.notes + choice.notes) if choice.notes else ep


def default_endpoint(env: Mapping[str, str] | None = None) -> DockerEndpoint:
    """Returns the `default` context's endpoint: DOCKER_HOST and the TLS variables."""
    env = os.environ if env is None else env
    verify = env.get("DOCKER_TLS_VERIFY", "") != ""
    tls = verify or env.get("DOCKER_TLS", "") != ""
    variable = "DOCKER_TLS_VERIFY" if verify else "DOCKER_TLS"
    raw = env.get("DOCKER_HOST", "")
    if raw:
        source = "DOCKER_HOST"
    elif tls:
        source = f"default TLS address ({variable})"
    else:
        source = "default socket"
    try:
        url = parse_docker_host(raw, tls=tls)
    except DockerHostError as exc:
        return DockerEndpoint(
            raw,
            DEFAULT_CONTEXT,
            source,
            problem=f"DOCKER_HOST={raw!r} is not a Docker address: {exc}",
            hint="e.g. unix:///var/run/docker.sock, tcp://host:2376 or ssh://user@host",
        )
    if not tls:
        notes: tuple[str, ...] = ()
        if env.get("DOCKER_CERT_PATH") and url.startswith("tcp://"):
            # docker does the same; said because docker-py's from_env turns TLS on here.
            notes = ("DOCKER_CERT_PATH is set but DOCKER_TLS_VERIFY is not: plain HTTP",)
        return DockerEndpoint(url, DEFAULT_CONTEXT, source, notes=notes)
    cert_dir = Path(env.get("DOCKER_CERT_PATH") or config_dir(env))
    ca, cert, key = (cert_dir / name for name in TLS_FILES)
    ep = DockerEndpoint(
        url,
        DEFAULT_CONTEXT,
        source,
        tls=True,
        tls_verify=verify,
        ca=str(ca),
        cert=str(cert) if cert.is_file() else None,
        key=str(key) if key.is_file() else None,
    )
    if not ca.is_file():
        where = "DOCKER_CERT_PATH" if env.get("DOCKER_CERT_PATH") else "the docker config directory"
        return replace(
            ep,
            ca=None,
            problem=f"{variable} is set but the CA certificate {ca} is missing "
            "(TLS needs ca.pem; tfstudio never falls back to plain HTTP)",
            hint=f"put ca.pem, cert.pem and key.pem in {cert_dir} ({where}), "
            f"or set DOCKER_CERT_PATH to where they are, or unset {variable}",
        )
    return ep


def context_endpoint(
    name: str, env: Mapping[str, str] | None = None, *, why: str = ""
) -> DockerEndpoint:
    """Returns the endpoint of the named context as stored (`problem` when unusable)."""
    env = os.environ if env is None else env
    source = f"context {name}" + (f" ({why})" if why else "")
    store = config_dir(env) / "contexts"
    meta_path = store / "meta" / context_id(name) / "meta.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        fix = {
            "DOCKER_CONTEXT": "unset DOCKER_CONTEXT or name a context of: docker context ls",
            "docker context use": "run: docker context use default (or another context of: "
            "docker context ls)",
        }
        return DockerEndpoint(
            "",
            name,
            source,
            problem=f"docker context {name!r} ({why or 'asked for'}) does not exist in {store}",
            hint=fix.get(why, "see: docker context ls"),
        )
    except (OSError, ValueError) as exc:
        return DockerEndpoint(
            "", name, source, problem=f"docker context {name!r}: {meta_path} is unreadable: {exc}"
        )
    docker = (meta.get("Endpoints") or {}).get("docker") if isinstance(meta, dict) else None
    if not isinstance(docker, dict):
        return DockerEndpoint(
            "", name, source, problem=f"docker context {name!r} has no docker endpoint"
        )
    # The CLI dials a context's Host as written (no default port); an empty
    # Host is the SDK's default socket.
    url = str(docker.get("Host") or DEFAULT_SOCKET_URL)
    skip = bool(docker.get("SkipTLSVerify"))
    tls_dir = store / "tls" / context_id(name) / "docker"
    ca, cert, key = (tls_dir / f for f in TLS_FILES)
    found = [p for p in (ca, cert, key) if p.is_file()]
    return DockerEndpoint(
        url,
        name,
        source,
        tls=bool(found) or skip,
        tls_verify=not skip,
        ca=str(ca) if ca.is_file() else None,
        cert=str(cert) if cert.is_file() else None,
        key=str(key) if key.is_file() else None,
    )


def list_contexts(env: Mapping[str, str] | None = None) -> list[DockerContext]:
    """Returns the contexts as `docker context ls` does: `default` among them, by name."""
    env = os.environ if env is None else env
    current = _choose(env).name
    found = [
        DockerContext(
            DEFAULT_CONTEXT,
            default_endpoint(env),
            current == DEFAULT_CONTEXT,
            "Current DOCKER_HOST based configuration",
        )
    ]
    for meta_path in sorted((config_dir(env) / "contexts" / "meta").glob("*/meta.json")):
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            name = str(meta["Name"])
            description = str((meta.get("Metadata") or {}).get("Description") or "")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            unreadable = DockerEndpoint("", "?", "context store")
            error = f"{meta_path} is unreadable: {exc}"
            found.append(DockerContext(meta_path.parent.name, unreadable, False, error=error))
            continue
        found.append(DockerContext(name, context_endpoint(name, env), name == current, description))
    return sorted(found, key=lambda c: c.name)


def _choose(env: Mapping[str, str]) -> _Choice:
    """The CLI's `resolveContextName` (docker/cli 23+), minus the --context flag."""
    current, unreadable = _read_config(env)
    notes: tuple[str, ...] = (unreadable,) if unreadable else ()
    named, why = (env.get("DOCKER_CONTEXT"), "DOCKER_CONTEXT")
    if not named:
        named, why = current, "docker context use"
    if env.get("DOCKER_HOST"):
        if named and named != DEFAULT_CONTEXT:
            # `docker context ls` warns about exactly this; `docker` itself is silent.
            notes += (f"DOCKER_HOST overrides context {named} ({why})",)
        return _Choice(DEFAULT_CONTEXT, "DOCKER_HOST", notes)
    if named:
        return _Choice(named, why, notes)
    return _Choice(DEFAULT_CONTEXT, "default", notes)


def _read_config(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """Returns (currentContext, why config.json was ignored). A config.json the CLI
    cannot parse is ignored with a warning, by the CLI and here alike."""
    path = config_dir(env) / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        return None, f"{path} is unreadable and was ignored, as docker ignores it: {exc}"
    current = data.get("currentContext") if isinstance(data, dict) else None
    return (str(current) if current else None), None
