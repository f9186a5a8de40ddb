"""The engine registry: which Docker Engines the studio knows and how to reach them.

Engines come from three places, in this order of precedence:
- `local`, built in: the engine the docker CLI would use (DOCKER_HOST, DOCKER_CONTEXT,
  `docker context use`, else the local socket, with the CLI's TLS rules; see
  `tfstudio.training.dockercontext`);
- `[engines.NAME]` tables in tfstudio.toml (read-only here);
- `TFSTUDIO_HOME/engines.json`, written by `tfstudio engines add/remove`
  atomically under a lock.

An engine is a name and a URL: `unix:///path.sock`, `tcp://host:port` (with TLS
files) or `ssh://[user@]host[:port]`, where host may be an alias of
`~/.ssh/config`. Names are validated before they become labels or file names.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tfstudio.atomic import file_lock, write_text_atomic
from tfstudio.config import CONFIG_NAME, Config, load_config, studio_home
from tfstudio.errors import ConfigError
from tfstudio.training.dockercontext import resolve
from tfstudio.training.errors import EngineError

REGISTRY_NAME = "engines.json"
LOCAL = "local"
DEFAULT_SOCKET = "unix:///var/run/docker.sock"
_NOT_STORED = frozenset({"origin", "source", "problem", "problem_hint"})
"""Fields that describe where an engine came from, never written to engines.json."""
DEFAULT_TIMEOUT_S = 60.0
"""Seconds a single engine API call may take (pulls and log streams are not bounded by it)."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_SCHEMES = ("unix", "tcp", "ssh")


@dataclass(frozen=True)
class Engine:
    """One Docker Engine: where it is and how to authenticate to it."""

    name: str
    url: str
    key: str | None = None
    """SSH identity file for ssh:// engines."""
    ssh_config: str | None = None
    """An ssh config file other than ~/.ssh/config."""
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_verify: bool | None = None
    """TLS with (True) or without (False) verifying the engine's certificate; None:
    TLS when a CA or client certificate is given, verified when a CA is."""
    workspace: str | None = None
    """Default workspace for jobs: a path on the engine's host."""
    timeout_s: float = DEFAULT_TIMEOUT_S
    added_at: str = ""
    origin: str = field(default="registry", compare=False)
    """builtin, config or registry (not stored)."""
    source: str = field(default="", compare=False)
    """Why `local` points where it does: DOCKER_HOST, context X, default socket (not stored)."""
    problem: str | None = None
    """Why this engine must not be used as it stands (TLS files missing, unknown
    context): `connect` refuses with it before opening any connection (not stored)."""
    problem_hint: str | None = None

    @property
    def scheme(self) -> str:
        """Returns unix, tcp or ssh."""
        return self.url.split("://", 1)[0]

    @property
    def remote(self) -> bool:
        """True when the engine runs on another host, so paths are that host's paths."""
        return self.scheme != "unix"

    @property
    def tls(self) -> bool:
        """True for a tcp:// engine reached over TLS (unix:// and ssh:// never are)."""
        if self.scheme != "tcp":
            return False
        return self.tls_verify is not None or bool(self.tls_ca or self.tls_cert)

    @property
    def verify(self) -> bool:
        """True when the engine's certificate is checked (TLS engines only)."""
        return self.tls_verify if self.tls_verify is not None else bool(self.tls_ca)

    def ssh_parts(self) -> tuple[str | None, str, int | None]:
        """Returns (user, host, port) of an ssh:// URL. Raises EngineError for another scheme."""
        if self.scheme != "ssh":
            raise EngineError(f"engine {self.name} is not an ssh:// engine")
        parsed = urllib.parse.urlsplit(self.url)
        return parsed.username, parsed.hostname or "", parsed.port

    def host_label(self) -> str:
        """Returns where the engine runs, for messages ("this machine" or the host)."""
        if not self.remote:
            return "this machine"
        return urllib.parse.urlsplit(self.url).hostname or self.url

    def to_json(self) -> dict[str, Any]:
        """Returns every field (stored or not) plus `remote` and `tls`."""
        out = asdict(self)
        out["remote"] = self.remote
        out["tls"] = self.tls
        return out


def validate_name(name: str) -> str:
    """Returns `name` if it is a valid engine name; raises EngineError otherwise."""
    if not _NAME.match(name) or ".." in name:
        raise EngineError(
            f"invalid engine name {name!r}",
            hint="use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


def validate_url(url: str) -> str:
    """Returns `url` normalised; raises EngineError for an unsupported or malformed URL."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in _SCHEMES:
        raise EngineError(
            f"engine URL {url!r} is not unix://, tcp:// or ssh://",
            hint="e.g. ssh://user@gpu-box, tcp://10.0.0.5:2376 or unix:///var/run/docker.sock",
        )
    if scheme == "unix":
        if not rest.startswith("/"):
            raise EngineError(f"engine URL {url!r}: a unix socket needs an absolute path")
        return text
    parsed = urllib.parse.urlsplit(text)
    try:
        port = parsed.port
    except ValueError:
        raise EngineError(f"engine URL {url!r} has an invalid port") from None
    host = parsed.hostname or ""
    if not host or host.startswith("-") or parsed.path not in ("", "/") or parsed.query:
        raise EngineError(f"engine URL {url!r} needs a host and nothing after it")
    if scheme == "tcp" and port is None:
        raise EngineError(f"engine URL {url!r} needs a port (2376 for TLS)")
    if parsed.password:
        raise EngineError(f"engine URL {url!r}: no passwords in URLs; use --key")
    if parsed.username and not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$", parsed.username):
        raise EngineError(f"engine URL {url!r} has an invalid user name")
    return text.rstrip("/")


def local_engine() -> Engine:
    """Returns the built-in engine: where the docker CLI would connect, with its TLS.

    Never raises for the environment: what the CLI would refuse (a missing
    ca.pem, an unknown context, a malformed DOCKER_HOST) becomes `problem`,
    which `connect` raises before opening any connection.
    """
    ep = resolve()
    engine = Engine(
        name=LOCAL,
        url=ep.url,
        tls_ca=ep.ca if ep.tls else None,
        tls_cert=ep.cert if ep.tls and ep.key else None,
        tls_key=ep.key if ep.tls and ep.cert else None,
        tls_verify=ep.tls_verify if ep.tls else None,
        origin="builtin",
        source="; ".join((ep.source, *ep.notes)),
        problem=ep.problem,
        problem_hint=ep.hint,
    )
    if engine.problem is None:
        try:
            engine = replace(engine, url=validate_url(ep.url))
        except EngineError as exc:
            engine = replace(
                engine,
                problem=f"the local engine ({ep.source}) cannot be used: {exc.message}",
                problem_hint=exc.hint,
            )
    return engine


def registry_path() -> Path:
    """Returns the path of engines.json."""
    return studio_home() / REGISTRY_NAME


def _read_registry() -> dict[str, Engine]:
    path = registry_path()
    if not path.exists():
        return {}
    known = {f.name for f in fields(Engine)} - _NOT_STORED
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {
            name: Engine(**{k: v for k, v in entry.items() if k in known})
            for name, entry in raw.get("engines", {}).items()
        }
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(f"engine registry {path} is unreadable: {exc}") from exc


def _write_registry(engines: dict[str, Engine]) -> None:
    data = {
        "engines": {
            name: {k: v for k, v in asdict(e).items() if k not in _NOT_STORED}
            for name, e in sorted(engines.items())
        }
    }
    write_text_atomic(registry_path(), json.dumps(data, indent=2) + "\n")


def _configured(config: Config | None = None) -> dict[str, Engine]:
    config = config or load_config()
    table = config.section("engines")
    out: dict[str, Engine] = {}
    allowed = {f.name for f in fields(Engine)} - _NOT_STORED - {"name", "added_at"}
    for name, entry in table.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{CONFIG_NAME}: [engines.{name}] must be a table")
        unknown = set(entry) - allowed
        if unknown:
            raise ConfigError(f"{CONFIG_NAME}: [engines.{name}] has unknown keys {sorted(unknown)}")
        try:
            engine = Engine(name=validate_name(name), origin="config", **entry)
            out[name] = replace(engine, url=validate_url(engine.url))
        except (EngineError, TypeError) as exc:
            raise ConfigError(f"{CONFIG_NAME}: [engines.{name}]: {exc}") from exc
    return out


def list_engines(config: Config | None = None) -> list[Engine]:
    """Returns `local`, then configured and registered engines by name.

    Raises ConfigError for an unreadable registry or a bad `[engines]` table.
    """
    merged = {**_read_registry(), **_configured(config)}
    merged.pop(LOCAL, None)
    return [local_engine(), *sorted(merged.values(), key=lambda e: e.name)]


def get_engine(name: str, config: Config | None = None) -> Engine:
    """Returns the engine `name`. Raises EngineError when no such engine exists."""
    if name == LOCAL:
        return local_engine()
    validate_name(name)
    configured = _configured(config)
    if name in configured:
        return configured[name]
    found = _read_registry().get(name)
    if found is None:
        raise EngineError(f"no engine named {name!r}", hint="see: tfstudio engines list")
    return found


def add_engine(engine: Engine, *, replace_existing: bool = False) -> Engine:
    """Validates and stores `engine`; returns it as stored.

    Raises EngineError for a bad name or URL, a taken name, `local`, or a name
    declared in tfstudio.toml.
    """
    validate_name(engine.name)
    if engine.name == LOCAL:
        raise EngineError(
            "'local' is the built-in engine: the docker CLI's engine",
            hint="point it elsewhere as for docker: DOCKER_HOST, DOCKER_CONTEXT or "
            "docker context use",
        )
    if engine.name in _configured():
        raise EngineError(f"engine {engine.name} is declared in {CONFIG_NAME}; edit it there")
    url = validate_url(engine.url)
    if engine.key is not None and engine.scheme != "ssh":
        raise EngineError("--key is for ssh:// engines; tcp:// engines use --tls-* files")
    if engine.workspace is not None and not engine.workspace.startswith("/"):
        raise EngineError(
            f"workspace {engine.workspace!r} must be an absolute path on the engine host"
        )
    stored = replace(engine, url=url, added_at=_now(), origin="registry")
    with file_lock(registry_path().with_suffix(".lock")):
        engines = _read_registry()
        if engine.name in engines and not replace_existing:
            raise EngineError(
                f"engine {engine.name} already exists",
                hint=f"remove it first: tfstudio engines remove {engine.name}",
            )
        engines[engine.name] = stored
        _write_registry(engines)
    return stored


def remove_engine(name: str) -> Engine:
    """Removes a registered engine and returns it. Raises EngineError when absent or built in."""
    if name == LOCAL:
        raise EngineError("'local' is built in and cannot be removed")
    validate_name(name)
    with file_lock(registry_path().with_suffix(".lock")):
        engines = _read_registry()
        if name not in engines:
            if name in _configured():
                raise EngineError(f"engine {name} is declared in {CONFIG_NAME}; edit it there")
            raise EngineError(f"no engine named {name!r}", hint="see: tfstudio engines list")
        gone = engines.pop(name)
        _write_registry(engines)
    return gone


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()
