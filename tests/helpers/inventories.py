"""Generated Ansible inventories (INI and YAML), for the oracle test against ansible-inventory.

`random_inventory(rng)` draws a small model (groups with children, hosts with ranges and
ports, host vars, group vars, `[all:vars]`, priorities, comments, late declarations) and
`write_ini` / `write_yaml` write it in either format, with `group_vars/` and `host_vars/`
files beside it now and then. The same model in both formats must read the same.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GROUP_NAMES = ["web", "db", "cams", "edge_eu", "lab", "pis", "site_a", "site_b", "canary"]
HOST_BASES = ["cam", "pi", "web", "node", "edge-", "db"]

VALUES: list[tuple[str, Any]] = [
    # (INI text, the same value for YAML)
    ("10.0.0.7", "10.0.0.7"),
    ("2222", 2222),
    ("'2222'", "2222"),
    ("pi", "pi"),
    ('"lab 1"', "lab 1"),
    ("True", True),
    ("False", False),
    ("None", None),
    ("07", "07"),
    ("1.5", 1.5),
    ("[1,2]", [1, 2]),
    ("{'a':1}", {"a": 1}),
    ("/usr/bin/python3", "/usr/bin/python3"),
    ("~/.ssh/id_ed25519", "~/.ssh/id_ed25519"),
    ("x=y", "x=y"),
]
VAR_NAMES = [
    "ansible_host",
    "ansible_port",
    "ansible_user",
    "ansible_python_interpreter",
    "ansible_ssh_private_key_file",
    "site",
    "hw",
    "role",
]


@dataclass
class Model:
    groups: list[str]
    children: dict[str, list[str]] = field(default_factory=dict)
    hosts: dict[str, list[tuple[str, dict[str, int]]]] = field(default_factory=dict)
    """group → [(host pattern, {var: VALUES index})]."""
    group_vars: dict[str, dict[str, int]] = field(default_factory=dict)
    priorities: dict[str, int] = field(default_factory=dict)
    ungrouped: list[tuple[str, dict[str, int]]] = field(default_factory=list)
    group_files: dict[str, dict[str, int]] = field(default_factory=dict)
    host_files: dict[str, dict[str, int]] = field(default_factory=dict)


def _vars(rng: random.Random, most: int) -> dict[str, int]:
    names = rng.sample(VAR_NAMES, rng.randint(0, most))
    return {n: rng.randrange(len(VALUES)) for n in names}


def _pattern(rng: random.Random, used: set[str]) -> str:
    base = rng.choice(HOST_BASES)
    kind = rng.random()
    if kind < 0.2:
        pattern = f"{base}[{rng.choice(['01:03', '1:2', 'a:c', '0:6:3'])}]"
    else:
        pattern = f"{base}{rng.randint(1, 9)}"
    if rng.random() < 0.15:
        pattern += f":{rng.choice([22, 2222, 8022])}"
    used.add(pattern)
    return pattern


def random_inventory(rng: random.Random) -> Model:
    groups = rng.sample(GROUP_NAMES, rng.randint(1, 5))
    model = Model(groups)
    for i, group in enumerate(groups):
        later = groups[i + 1 :]
        if later and rng.random() < 0.5:
            model.children[group] = rng.sample(later, rng.randint(1, min(2, len(later))))
        if rng.random() < 0.6:
            model.group_vars[group] = _vars(rng, 3)
        if rng.random() < 0.15:
            model.priorities[group] = rng.randint(0, 3)
    used: set[str] = set()
    pool = [_pattern(rng, used) for _ in range(rng.randint(2, 7))]
    for group in groups:
        if rng.random() < 0.8:
            picked = rng.sample(pool, rng.randint(1, min(3, len(pool))))
            model.hosts[group] = [(p, _vars(rng, 2)) for p in picked]
    if rng.random() < 0.4:
        model.ungrouped = [(rng.choice(pool), _vars(rng, 2))]
    if rng.random() < 0.4:
        model.group_vars["all"] = _vars(rng, 3)
    if rng.random() < 0.3:
        model.group_files[rng.choice([*groups, "all"])] = _vars(rng, 3)
    if rng.random() < 0.3:
        plain = [p for p in pool if "[" not in p and ":" not in p]
        if plain:
            model.host_files[rng.choice(plain)] = _vars(rng, 2)
    return model


def _ini_vars(values: dict[str, int]) -> str:
    return " ".join(f"{k}={VALUES[i][0]}" for k, i in values.items())


def _yaml_vars(values: dict[str, int]) -> dict[str, Any]:
    return {k: VALUES[i][1] for k, i in values.items()}


def _files(model: Model, folder: Path) -> None:
    for sub, table in (("group_vars", model.group_files), ("host_vars", model.host_files)):
        for name, values in table.items():
            (folder / sub).mkdir(exist_ok=True)
            (folder / sub / f"{name}.yml").write_text(json.dumps(_yaml_vars(values)) + "\n")


def write_ini(model: Model, folder: Path, rng: random.Random) -> Path:
    """Writes the model as an INI inventory in `folder`; returns the file."""
    lines = ["# generated inventory", ""]
    for pattern, values in model.ungrouped:
        lines.append(f"{pattern} {_ini_vars(values)}".rstrip())
    order = list(model.groups)
    if rng.random() < 0.5:
        order.reverse()  # children and vars sections may come before their group
    for group in order:
        lines.append(f"[{group}]" + ("  # a group" if rng.random() < 0.2 else ""))
        for pattern, values in model.hosts.get(group, []):
            comment = " # inline comment" if rng.random() < 0.2 else ""
            lines.append(f"{pattern} {_ini_vars(values)}".rstrip() + comment)
        if rng.random() < 0.2:
            lines.append("; a semicolon comment")
        if group in model.children:
            lines.append(f"[{group}:children]")
            lines.extend(model.children[group])
        values = dict(model.group_vars.get(group, {}))
        if values or group in model.priorities:
            lines.append(f"[{group}:vars]")
            for key, i in values.items():
                lines.append(f"{key}={VALUES[i][0]}" if rng.random() < 0.5 else
                             f"{key} = {VALUES[i][0]}")  # fmt: skip
            if group in model.priorities:
                lines.append(f"ansible_group_priority={model.priorities[group]}")
        lines.append("")
    if "all" in model.group_vars:
        lines.append("[all:vars]")
        lines.extend(f"{k}={VALUES[i][0]}" for k, i in model.group_vars["all"].items())
    path = folder / "hosts.ini"
    path.write_text("\n".join(lines) + "\n")
    _files(model, folder)
    return path


def write_yaml(model: Model, folder: Path, rng: random.Random) -> Path:
    """Writes the model as a YAML inventory in `folder`; returns the file."""

    def body(group: str, seen: set[str]) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        if group in model.hosts:
            out["hosts"] = {p: (_yaml_vars(v) or None) for p, v in model.hosts[group]}
        if model.group_vars.get(group) or group in model.priorities:
            out["vars"] = _yaml_vars(model.group_vars.get(group, {}))
            if group in model.priorities:
                out["vars"]["ansible_group_priority"] = model.priorities[group]
        kids = [k for k in model.children.get(group, []) if k not in seen]
        if kids:
            out["children"] = {k: body(k, seen | {k}) for k in kids}
        return out or None

    child_of = {c for kids in model.children.values() for c in kids}
    top: dict[str, Any] = {g: body(g, {g}) for g in model.groups if g not in child_of}
    root: dict[str, Any] = {}
    if model.ungrouped:
        root["hosts"] = {p: (_yaml_vars(v) or None) for p, v in model.ungrouped}
    if "all" in model.group_vars:
        root["vars"] = _yaml_vars(model.group_vars["all"])
    if top:
        root["children"] = top
    path = folder / "hosts.yml"
    if rng.random() < 0.5:
        import yaml

        path.write_text(yaml.safe_dump({"all": root}, sort_keys=False))
    else:
        path.write_text(json.dumps({"all": root}, indent=1) + "\n")
    _files(model, folder)
    return path
