"""The device registry: `TFSTUDIO_HOME/devices.json`, written atomically under a lock.

A device is a name plus how to reach it (host, port, user, key, ssh config),
which Python runs the agent there, and where the agent's home is. Every field
is validated when a device is added *and* when an entry is used (a
hand-edited registry gets no further), and again where the agent's command
line is built: nothing a user typed may start with `-` where the device's
Python or the agent would read it as an option. The built-in device `local`
always exists and cannot be removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tfstudio.atomic import write_text_atomic
from tfstudio.config import studio_home
from tfstudio.errors import ConfigError, DeviceError
from tfstudio.fleet import labels

REGISTRY_NAME = "devices.json"
LOCAL = "local"
DEFAULT_AGENT_HOME = ".tfstudio-agent"
"""Relative to the device user's home: SSH commands and SFTP both start there."""
AGENT_PYZ = "tfstudio-agent.pyz"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$")
_HOST = re.compile(r"^[A-Za-z0-9_.:\[\]%-]{1,253}$")


def validate_name(name: str) -> str:
    """Returns `name` if it is a valid device name; raises DeviceError otherwise."""
    if not _NAME.match(name) or ".." in name:
        raise DeviceError(
            f"invalid device name {name!r}",
            hint="use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


def validate_host(host: str) -> str:
    """Returns `host` (a hostname, address or ssh-config alias) or raises DeviceError."""
    if not _HOST.match(host) or host.startswith("-"):
        raise DeviceError(f"invalid host {host!r}", hint="give a hostname, an IP or an ssh alias")
    return host


def validate_user(user: str) -> str:
    """Returns `user` or raises DeviceError for a name no system would accept."""
    if not _USER.match(user):
        raise DeviceError(f"invalid user name {user!r}")
    return user


def validate_port(port: int | None) -> int | None:
    """Returns `port` (or None) or raises DeviceError outside 1-65535."""
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
        raise DeviceError(f"invalid port {port!r}")
    if port is not None and not 0 < port < 65536:
        raise DeviceError(f"invalid port {port}", hint="give a TCP port from 1 to 65535")
    return port


def _one_line(what: str, value: str) -> str:
    if not value or not value.isprintable():
        raise DeviceError(f"invalid {what} {value!r}", hint="no newlines or control characters")
    return value


def validate_python(python: str) -> str:
    """Returns the device's Python (a command name or a path) or raises DeviceError.

    It is the first word of remote commands: it may not start with `-`.
    """
    _one_line("python path", python)
    if python.startswith("-"):
        raise DeviceError(
            f"invalid python path {python!r}: it would be read as an option",
            hint="give a command name (python3) or a path (/usr/bin/python3)",
        )
    return python


def validate_agent_home(path: str) -> str:
    """Returns the agent home as stored (absolute, or relative to the login directory).

    Accepts `/abs/path`, `~/path` and `path` (both relative to the device
    user's home; `~/` is stripped). Raises DeviceError for `..`, control
    characters, `~user/` forms and anything that would start with `-`.
    """
    _one_line("agent home", path)
    if path.startswith("~/"):
        path = path[2:]
    elif path.startswith("~"):
        raise DeviceError(
            f"invalid agent home {path!r}",
            hint="give an absolute path or one under the device user's home (~/...)",
        )
    if not path.strip("/") and path != "/" or ".." in path.split("/"):
        raise DeviceError(f"invalid agent home {path!r}", hint="no '..' and not empty")
    if path.startswith("-"):
        raise DeviceError(
            f"invalid agent home {path!r}: the device's Python would read it as an option",
            hint="give an absolute path or one under the device user's home (~/...)",
        )
    return path.rstrip("/") or "/"


def validate_local_file(what: str, path: str, *, must_exist: bool = True) -> str:
    """Returns `path` (with `~` expanded); with `must_exist`, it must name a file here."""
    _one_line(what, path)
    expanded = os.path.expanduser(path)
    if must_exist and not os.path.isfile(expanded):
        raise DeviceError(f"{what} {path} not found (or not a file)")
    return expanded


def check_device(device: Device, *, files: bool = False) -> Device:
    """Returns `device` with every field validated (and normalised); raises DeviceError.

    `files`: the key and ssh config must exist now (when a device is added; later,
    a missing key is the connection's error, which names it).
    """
    validate_name(device.name)
    if device.kind == LOCAL:
        return device
    for key, value in device.labels.items():
        labels.validate_value(labels.validate_key(key), value)
    for group in device.groups:
        labels.validate_group(group)
    if device.kind != "ssh":
        raise DeviceError(f"device {device.name}: unknown kind {device.kind!r}")
    if device.host is None:
        raise DeviceError(f"device {device.name} needs --host")
    validate_host(device.host)
    if device.user is not None:
        validate_user(device.user)
    validate_port(device.port)
    return replace(
        device,
        python=validate_python(device.python),
        agent_home=validate_agent_home(device.agent_home),
        key=validate_local_file("key file", device.key, must_exist=files) if device.key else None,
        ssh_config=(
            validate_local_file("ssh config", device.ssh_config, must_exist=files)
            if device.ssh_config
            else None
        ),
    )


@dataclass(frozen=True)
class Device:
    """One registered device."""

    name: str
    kind: str = "ssh"
    host: str | None = None
    port: int | None = None
    user: str | None = None
    key: str | None = None
    ssh_config: str | None = None
    python: str = "python3"
    agent_home: str = DEFAULT_AGENT_HOME
    agent_version: str | None = None
    added_at: str = field(default_factory=lambda: _now())
    labels: dict[str, str] = field(default_factory=dict)
    """KEY=VALUE pairs a selector filters on (`site=lab`); see `tfstudio.fleet.labels`."""
    groups: tuple[str, ...] = ()
    """Group names (`group:cameras` in a selector); an inventory's groups land here."""
    source: str | None = None
    """Where the entry was imported from (`ansible:PATH`, `ssh-config:PATH`), if it was."""

    def __post_init__(self) -> None:
        # Read back from JSON, groups arrive as a list and labels as any mapping.
        object.__setattr__(self, "labels", {str(k): str(v) for k, v in dict(self.labels).items()})
        object.__setattr__(self, "groups", tuple(dict.fromkeys(str(g) for g in self.groups)))

    def __hash__(self) -> int:
        return hash(self.name)

    @property
    def agent_pyz(self) -> str:
        """Remote path of the agent zipapp."""
        return f"{self.agent_home}/{AGENT_PYZ}"

    def agent_argv(self) -> list[str]:
        """Returns the words that start the agent, up to and with its `--home=...`.

        Raises DeviceError for a python or agent home the device's Python would
        read as an option (a hand-edited registry, say).
        """
        if self.kind == LOCAL:
            return [self.python, "-m", "edge_agent", f"--home={self.agent_home}"]
        validate_python(self.python)
        validate_agent_home(self.agent_home)
        return [self.python, self.agent_pyz, f"--home={self.agent_home}"]

    def remote(self, *parts: str) -> str:
        """Returns a path under the agent home."""
        return "/".join([self.agent_home, *parts])

    def to_json(self) -> dict[str, Any]:
        """Returns the entry as stored in the registry."""
        out = asdict(self)
        out["groups"] = list(self.groups)
        return out


def local_device() -> Device:
    """Returns the built-in device that runs the agent under TFSTUDIO_HOME/devices/local."""
    root = studio_home() / "devices" / LOCAL
    return Device(name=LOCAL, kind=LOCAL, python=sys.executable, agent_home=str(root), added_at="")


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def registry_path() -> Path:
    """Returns the registry file's path."""
    return studio_home() / REGISTRY_NAME


def _read() -> dict[str, Device]:
    path = registry_path()
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in fields(Device)}
        return {
            name: Device(**{k: v for k, v in entry.items() if k in known})
            for name, entry in raw.get("devices", {}).items()
        }
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(f"device registry {path} is unreadable: {exc}") from exc


def _write(devices: dict[str, Device]) -> None:
    data = {"devices": {name: d.to_json() for name, d in sorted(devices.items())}}
    write_text_atomic(registry_path(), json.dumps(data, indent=2) + "\n")


@contextlib.contextmanager
def _locked() -> Iterator[dict[str, Device]]:
    lock = registry_path().with_suffix(".lock")
    with open(lock, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            devices = _read()
            before = dict(devices)
            yield devices
            if devices != before:
                _write(devices)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def edit() -> contextlib.AbstractContextManager[dict[str, Device]]:
    """Returns a context that holds the registry's lock and yields its devices by name:
    change the dict in place, and it is written (atomically) when the block ends."""
    return _locked()


def list_devices() -> list[Device]:
    """Returns `local` then every registered device, by name."""
    return [local_device(), *sorted(_read().values(), key=lambda d: d.name)]


def get_device(name: str) -> Device:
    """Returns the device `name`; raises DeviceError when it is not registered or its
    entry is invalid (a hand edit)."""
    if name == LOCAL:
        return local_device()
    validate_name(name)
    found = _read().get(name)
    if found is None:
        raise DeviceError(f"no device named {name!r}", hint="see: tfstudio devices list")
    try:
        return check_device(found)
    except DeviceError as exc:
        raise DeviceError(
            f"device {name}: registry entry is invalid: {exc.message}",
            hint=f"fix {registry_path()} or re-add it: tfstudio devices remove {name}",
        ) from None


def resolve_names(spec: str) -> list[Device]:
    """Returns the devices a selector picks: `a,b,c`, `all` (every registered device plus
    local), or label filters (`site=lab,group:cameras`; see `tfstudio.fleet.labels`).

    Raises DeviceError for an unknown name, an invalid entry or a filter matching nothing.
    """
    selector = labels.parse(spec)
    if selector.names:
        return [get_device(n) for n in selector.names]
    return [get_device(d.name) for d in labels.select(selector, list_devices())]


def set_labels(
    name: str,
    setting: dict[str, str] | None = None,
    removing: Sequence[str] = (),
    *,
    add_groups: Sequence[str] = (),
    remove_groups: Sequence[str] = (),
) -> Device:
    """Sets and removes labels and groups of a registered device; returns the new entry.

    Raises DeviceError for `local`, an unknown device or a bad label or group.
    """
    if name == LOCAL:
        raise DeviceError(
            "'local' is built in and carries no labels", hint="name it in a selector: --on local"
        )
    for key, value in (setting or {}).items():
        labels.validate_value(labels.validate_key(key), value)
    for group in (*add_groups, *remove_groups):
        labels.validate_group(group)
    validate_name(name)
    with _locked() as devices:
        if name not in devices:
            raise DeviceError(f"no device named {name!r}", hint="see: tfstudio devices list")
        old = devices[name]
        new_labels = {k: v for k, v in old.labels.items() if k not in removing}
        new_labels.update(setting or {})
        groups = [g for g in old.groups if g not in remove_groups]
        groups += [g for g in add_groups if g not in groups]
        devices[name] = replace(old, labels=new_labels, groups=tuple(groups))
        return devices[name]


def add_device(device: Device, *, replace_existing: bool = False) -> Device:
    """Validates and stores `device`; returns it. Raises DeviceError on a bad field or
    a taken name."""
    validate_name(device.name)
    if device.name == LOCAL:
        raise DeviceError("'local' is the built-in device and cannot be redefined")
    device = check_device(replace(device, kind="ssh"), files=True)
    with _locked() as devices:
        if device.name in devices and not replace_existing:
            raise DeviceError(
                f"device {device.name} already exists",
                hint=f"remove it first: tfstudio devices remove {device.name}",
            )
        devices[device.name] = device
    return device


def update_device(name: str, **changes: Any) -> Device:
    """Applies `changes` to a registered device and returns the new entry."""
    if name == LOCAL:
        return replace(local_device(), **changes)
    with _locked() as devices:
        if name not in devices:
            raise DeviceError(f"no device named {name!r}")
        devices[name] = replace(devices[name], **changes)
        return devices[name]


def remove_device(name: str) -> Device:
    """Removes `name` and returns its entry; raises DeviceError when absent or `local`."""
    if name == LOCAL:
        raise DeviceError("'local' is built in and cannot be removed")
    validate_name(name)
    with _locked() as devices:
        if name not in devices:
            raise DeviceError(f"no device named {name!r}", hint="see: tfstudio devices list")
        return devices.pop(name)
