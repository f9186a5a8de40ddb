"""Reading an Ansible inventory file: which parser, and the vars folders beside it.

`load` reads INI, YAML, or the JSON that `ansible-inventory --list` prints
(`tfstudio.fleet.inventory_ini`, `tfstudio.fleet.inventory_yaml`), then the
`group_vars/` and `host_vars/` folders next to the file, as Ansible's
host_group_vars plugin reads them (a file named after the group or host, with no
suffix or .yml, .yaml, .json; or a folder of such files).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tfstudio.fleet.inventory import Inventory, InventoryError

YAML_SUFFIXES = (".yml", ".yaml", ".json")
"""Inventory files read as YAML (JSON is YAML), as Ansible's yaml plugin takes them."""


def load(path: Path) -> Inventory:
    """Reads an Ansible inventory file: INI, YAML, or `ansible-inventory --list` JSON, with
    the `group_vars/` and `host_vars/` folders beside it.

    Raises InventoryError (one line, naming the file and line where it can).
    """
    from tfstudio.fleet import inventory_ini, inventory_yaml

    if path.is_dir():
        raise InventoryError(
            f"{path} is a folder; give the inventory file in it",
            hint="to read what Ansible reads from a folder: "
            f"ansible-inventory -i {path} --list > inventory.json, then import that",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise InventoryError(f"cannot read inventory {path}: {exc}") from None
    if path.suffix in YAML_SUFFIXES or _looks_like_yaml(text):
        inv = inventory_yaml.parse(text, path)
    else:
        inv = inventory_ini.parse(text, path)
    _vars_folders(inv, path.parent)
    return inv


def _looks_like_yaml(text: str) -> bool:
    """Ansible tries the yaml plugin before ini on a file with no suffix: a file that
    starts like a YAML mapping or JSON object is read as one."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        return (
            stripped in ("---", "{")
            or stripped.startswith("{")
            or (re.match(r"^[\w.-]+:\s*(#.*)?$", stripped) is not None and not line[0].isspace())
        )
    return False


VARS_SUFFIXES = ("", ".yml", ".yaml", ".json")
"""The file names Ansible's host_group_vars plugin reads in group_vars/ and host_vars/."""


def _vars_folders(inv: Inventory, base: Path) -> None:
    from tfstudio.fleet.inventory_yaml import load_vars_file

    for folder, names, into in (
        ("group_vars", list(inv.groups), inv.group_files),
        ("host_vars", list(inv.hosts), inv.host_files),
    ):
        root = base / folder
        if not root.is_dir():
            continue
        for name in names:
            merged: dict[str, Any] = {}
            for suffix in VARS_SUFFIXES:
                candidate = root / f"{name}{suffix}"
                if candidate.is_file():
                    merged.update(load_vars_file(candidate))
                elif suffix == "" and candidate.is_dir():
                    for inner in sorted(candidate.rglob("*")):
                        if inner.is_file() and inner.suffix in VARS_SUFFIXES:
                            merged.update(load_vars_file(inner))
            if merged:
                into[name] = merged
