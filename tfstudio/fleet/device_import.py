"""`devices import`: devices from an Ansible inventory or an ssh config, merged into the registry.

From an inventory (`tfstudio.fleet.inventory`), each host becomes a device named by
its inventory name, with its merged vars read as Ansible's connection would:
`ansible_host` (else the name), `ansible_port`, `ansible_user`,
`ansible_ssh_private_key_file` (or `ansible_private_key_file`; relative to the
current folder, as ssh takes it), `ansible_python_interpreter` (`auto*` keeps
python3), plus `tfstudio_agent_home` and `tfstudio_labels` (a mapping, or
`k=v,k=v`). Its groups (ancestors included; not `all` or `ungrouped`) become its
groups. A host that cannot be a device (not an SSH connection, a templated value, a
name or field tfstudio refuses, a missing key file) is skipped with the reason.

From an ssh config (`tfstudio.fleet.sshhosts`), each single-host `Host` alias becomes
a device that keeps the alias and the config file: ssh resolves the rest.

A device remembers its source. An import computes what changes against the
registry (added, changed field by field, unchanged, gone from the source) and
applies it under the registry's lock: a re-import updates, never duplicates. What
a device was given by hand (labels set with `devices label`, its agent version)
stays; labels from the inventory are set over it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tfstudio.errors import DeviceError, TfStudioError, UsageError
from tfstudio.fleet import labels, registry
from tfstudio.fleet.inventory import ALL, UNGROUPED, Inventory
from tfstudio.fleet.registry import DEFAULT_AGENT_HOME, LOCAL, Device

SSH_CONNECTIONS = frozenset({"ssh", "paramiko", "paramiko_ssh", "smart"})
"""`ansible_connection` values that mean "over SSH" (tfstudio's only way to a device)."""

IMPORTED_FIELDS = ("host", "port", "user", "key", "ssh_config", "python", "agent_home", "groups")
"""What an import sets; the other fields of an existing device are kept."""


@dataclass(frozen=True)
class Skipped:
    """A host that did not become a device, and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class Change:
    """What the import did (or would do) to one device."""

    name: str
    action: str  # added, changed, unchanged, gone (kept), removed
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Returns the change with each field as {"old", "new"}."""
        return {
            "name": self.name,
            "action": self.action,
            "fields": {k: {"old": o, "new": n} for k, (o, n) in self.fields.items()},
        }


@dataclass(frozen=True)
class ImportResult:
    """What an import found and did."""

    source: str
    changes: tuple[Change, ...]
    skipped: tuple[Skipped, ...]
    dry_run: bool = False

    def named(self, action: str) -> list[str]:
        """The names of the devices with `action`."""
        return [c.name for c in self.changes if c.action == action]

    def to_json(self) -> dict[str, Any]:
        """Returns the result as JSON-able data."""
        return {
            "source": self.source,
            "dry_run": self.dry_run,
            "changes": [c.to_json() for c in self.changes],
            "skipped": [asdict(s) for s in self.skipped],
        }


def _text(vars_: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = vars_.get(key)
        if value is None:
            continue
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise DeviceError(f"{key} is a {type(value).__name__}, not text")
        text = str(value)
        if "{{" in text or "{%" in text:
            raise DeviceError(f"{key} is a template ({text}), which tfstudio does not render")
        return text
    return None


def _labels_var(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str):
        parsed: dict[str, str] = {}
        for pair in (p.strip() for p in value.split(",")):
            if pair:
                key, _, val = pair.partition("=")
                parsed[key] = val
        value = parsed
    if not isinstance(value, Mapping):
        raise DeviceError("tfstudio_labels must be a mapping or k=v,k=v")
    out = {}
    for key, val in value.items():
        out[labels.validate_key(str(key))] = labels.validate_value(str(key), str(val))
    return out


def inventory_devices(inv: Inventory) -> tuple[list[Device], list[Skipped]]:
    """Returns the devices of an inventory's hosts and the hosts skipped (with why)."""
    devices: list[Device] = []
    skipped: list[Skipped] = []
    source = f"ansible:{inv.source.resolve()}"
    for host in inv.hosts:
        vars_ = inv.host_vars(host)
        try:
            connection = _text(vars_, "ansible_connection") or "ssh"
            if connection not in SSH_CONNECTIONS:
                raise DeviceError(f"ansible_connection is {connection}, not ssh")
            if host == LOCAL:
                raise DeviceError("'local' is the built-in device")
            registry.validate_name(host)
            port_text = _text(vars_, "ansible_port", "ansible_ssh_port")
            if port_text is not None and not port_text.isdigit():
                raise DeviceError(f"ansible_port {port_text!r} is not a number")
            key = _text(vars_, "ansible_ssh_private_key_file", "ansible_private_key_file")
            python = _text(vars_, "ansible_python_interpreter")
            if python is None or python.startswith("auto"):
                python = "python3"
            groups = [g for g in inv.groups_of(host) if g not in (ALL, UNGROUPED)]
            bad = [g for g in groups if not _valid_group(g)]
            if bad:
                raise DeviceError(f"group {bad[0]!r} is no valid tfstudio group name")
            device = Device(
                name=host,
                host=_text(vars_, "ansible_host", "ansible_ssh_host") or host,
                port=int(port_text) if port_text is not None else None,
                user=_text(vars_, "ansible_user", "ansible_ssh_user"),
                key=os.path.abspath(os.path.expanduser(key)) if key else None,
                python=python,
                agent_home=_text(vars_, "tfstudio_agent_home") or DEFAULT_AGENT_HOME,
                labels=_labels_var(vars_.get("tfstudio_labels")),
                groups=tuple(groups),
                source=source,
            )
            devices.append(registry.check_device(device, files=True))
        except TfStudioError as exc:
            skipped.append(Skipped(host, exc.message))
    return devices, skipped


def _valid_group(name: str) -> bool:
    try:
        labels.validate_group(name)
    except DeviceError:
        return False
    return True


def ssh_config_devices(path: Path) -> tuple[list[Device], list[Skipped]]:
    """Returns a device per single-host `Host` alias of an ssh config, and those skipped."""
    from tfstudio.fleet.sshhosts import host_aliases

    config = str(path.resolve())
    devices: list[Device] = []
    skipped: list[Skipped] = []
    for alias in host_aliases(path):
        try:
            if alias == LOCAL:
                raise DeviceError("'local' is the built-in device")
            device = Device(
                name=alias, host=alias, ssh_config=config, source=f"ssh-config:{config}"
            )
            devices.append(registry.check_device(device, files=True))
        except TfStudioError as exc:
            skipped.append(Skipped(alias, exc.message))
    return devices, skipped


def _diff(old: Device, new: Device) -> dict[str, tuple[Any, Any]]:
    changed: dict[str, tuple[Any, Any]] = {}
    for name in IMPORTED_FIELDS:
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            changed[name] = (list(before) if name == "groups" else before,
                             list(after) if name == "groups" else after)  # fmt: skip
    for key, value in new.labels.items():
        if old.labels.get(key) != value:
            changed[f"label {key}"] = (old.labels.get(key), value)
    if old.source != new.source:
        changed["source"] = (old.source, new.source)
    return changed


def merge(
    found: Sequence[Device],
    skipped: Sequence[Skipped],
    source: str,
    *,
    dry_run: bool = False,
    prune: bool = False,
) -> ImportResult:
    """Merges `found` (all from `source`) into the registry and returns what changed.

    A device of the same name is updated (its imported fields; labels merged); a
    device from `source` no longer found is reported gone, and removed with `prune`.
    With `dry_run` nothing is written.
    """
    if not found and not skipped:
        raise UsageError(f"{source}: no hosts found", hint="is it the right file?")
    changes: list[Change] = []
    with registry.edit() as devices:
        staged = dict(devices)
        for new in found:
            old = staged.get(new.name)
            if old is None:
                staged[new.name] = new
                changes.append(Change(new.name, "added"))
                continue
            merged = replace(
                old,
                **{name: getattr(new, name) for name in IMPORTED_FIELDS},
                labels={**old.labels, **new.labels},
                source=new.source,
            )
            diff = _diff(old, merged)
            staged[new.name] = merged
            changes.append(Change(new.name, "changed" if diff else "unchanged", diff))
        names = {d.name for d in found} | {s.name for s in skipped}
        for name, old in sorted(devices.items()):
            if old.source == source and name not in names:
                if prune:
                    del staged[name]
                changes.append(Change(name, "removed" if prune else "gone"))
        if not dry_run:
            devices.clear()
            devices.update(staged)
    return ImportResult(source, tuple(changes), tuple(skipped), dry_run)


def import_file(
    path: Path, *, ssh_config: bool = False, dry_run: bool = False, prune: bool = False
) -> ImportResult:
    """Imports the devices of an Ansible inventory (or, with `ssh_config`, an ssh config).

    Raises InventoryError / ConfigError (the file cannot be read), UsageError (no hosts).
    """
    from tfstudio.fleet import inventory_files

    if ssh_config:
        found, skipped = ssh_config_devices(path)
        source = f"ssh-config:{path.resolve()}"
    else:
        found, skipped = inventory_devices(inventory_files.load(path))
        source = f"ansible:{path.resolve()}"
    return merge(found, skipped, source, dry_run=dry_run, prune=prune)
