"""Ansible's YAML inventory format (and `ansible-inventory --list` JSON), read into an
`Inventory` as Ansible's `yaml` plugin reads it.

Top-level keys are groups (usually `all`); each group may have `hosts` (host
patterns, each with its vars), `vars` and `children` (groups, recursively). A
section given as a string names one entry; other keys are passed over, as Ansible
does (with a warning there). A document with `_meta.hostvars` is the output of
`ansible-inventory --list`, whose host vars are already merged: that is how an
inventory from a plugin, a script or a folder comes in.

YAML is read with PyYAML's safe loader, the YAML 1.1 reading Ansible's own loader
builds on (`yes` is true there too); PyYAML is the optional `inventory` extra
(`pip install 'tfstudio[inventory]'`), loaded only when a YAML file is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tfstudio.fleet.inventory import Inventory, InventoryError, from_list_json
from tfstudio.fleet.inventory_ini import expand, split_port

SECTIONS = ("vars", "children", "hosts")


def _yaml_load(text: str, where: str) -> Any:
    from tfstudio.extras import require

    yaml = require("yaml", "inventory")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        hint = None
        if "!vault" in str(exc) or "!unsafe" in str(exc):
            hint = f"export it with Ansible first: ansible-inventory -i {where} --list > inv.json"
        raise InventoryError(f"{where}{line}: not valid YAML: {problem}", hint=hint) from None


def load_vars_file(path: Path) -> dict[str, Any]:
    """Returns the vars of a `group_vars/` or `host_vars/` file (YAML or JSON).

    Raises InventoryError when it is not a mapping.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise InventoryError(f"cannot read {path}: {exc}") from None
    data = _yaml_load(text, str(path))
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InventoryError(f"{path}: a vars file must be a mapping of names to values")
    return dict(data)


def parse(text: str, path: Path) -> Inventory:
    """Returns the Inventory of YAML (or JSON) `text` read from `path`. Raises InventoryError."""
    data = _yaml_load(text, str(path))
    if not data:
        raise InventoryError(f"{path}: the inventory is empty")
    if not isinstance(data, Mapping):
        raise InventoryError(f"{path}: an inventory is a mapping of group names")
    if data.get("plugin"):
        raise InventoryError(
            f"{path} configures the inventory plugin {data['plugin']!r}; it is not an inventory",
            hint=f"export what it finds: ansible-inventory -i {path} --list > inventory.json, "
            "then import that",
        )
    if "_meta" in data:
        return from_list_json(dict(data), path)
    inv = Inventory(path)
    for name, body in data.items():
        _group(inv, str(name), body)
    inv.finish()
    return inv


def _group(inv: Inventory, name: str, body: Any) -> str:
    if not (body is None or isinstance(body, Mapping)):
        return name  # Ansible skips it (with a warning)
    inv.group(name)
    if body is None:
        return name
    body = dict(body)
    for section in SECTIONS:
        if isinstance(body.get(section), str):
            body[section] = {body[section]: None}
        if section in body and not (body[section] is None or isinstance(body[section], Mapping)):
            raise InventoryError(
                f"{inv.source}: the {section!r} of group {name!r} must be a mapping, "
                f"not a {type(body[section]).__name__}"
            )
    for key, section in body.items():
        if not isinstance(section, Mapping):
            continue  # None, or a key Ansible passes over
        if key == "vars":
            for var, val in section.items():
                inv.set_group_var(name, str(var), val)
        elif key == "children":
            for child, child_body in section.items():
                child = _group(inv, str(child), child_body)
                if child not in inv.groups:
                    raise InventoryError(f"{inv.source}: {child!r} is not a known group")
                inv.add_child(name, child)
        elif key == "hosts":
            for pattern, host_vars in section.items():
                if not isinstance(pattern, str):
                    raise InventoryError(
                        f"{inv.source}: host {pattern!r} in group {name!r} must be text "
                        "(quote numbers)"
                    )
                host_vars = host_vars or {}
                if not isinstance(host_vars, Mapping):
                    raise InventoryError(
                        f"{inv.source}: the vars of host {pattern!r} must be a mapping"
                    )
                host, port = split_port(pattern)
                for one in expand(host, f"{inv.source}: "):
                    inv.add_host(one, name, port)
                    inv.hosts[one].update({str(k): v for k, v in host_vars.items()})
    return name
