"""An Ansible inventory as data: groups, their hosts, children and vars, and each host's
merged vars as Ansible computes them.

The parsers (`tfstudio.fleet.inventory_ini`, `tfstudio.fleet.inventory_yaml`) fill an
`Inventory`; `tfstudio.fleet.inventory_files.load` picks one by the file and adds the
`group_vars/` and `host_vars/` folders beside it. Ansible itself is the oracle:
tests/fleet/test_inventory_oracle.py compares these results with `ansible-inventory
--list` over generated inventories.

Ansible's rules, as kept here:
- every host is in `all`; a host in no other group is in `ungrouped`; a group with no
  parent is a child of `all`;
- a group's depth is its longest path from `all`; a host's vars are merged, later
  winning, in this order: `all`'s vars, then the vars of every other group the host is
  in (its ancestors included) sorted by (depth, `ansible_group_priority`, name), then
  `group_vars/` files in the same order (`all` first), then the host's own vars, then
  its `host_vars/` file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfstudio.errors import TfStudioError

ALL = "all"
UNGROUPED = "ungrouped"
PRIORITY_VAR = "ansible_group_priority"


class InventoryError(TfStudioError):
    """An inventory file that cannot be read as Ansible would read it."""


@dataclass
class Group:
    """One group: its own vars, direct hosts and child groups, in the order met."""

    name: str
    vars: dict[str, Any] = field(default_factory=dict)
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    priority: int = 1


@dataclass
class Inventory:
    """Groups and hosts (with their own vars), plus vars files read beside the file."""

    source: Path
    groups: dict[str, Group] = field(default_factory=dict)
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    group_files: dict[str, dict[str, Any]] = field(default_factory=dict)
    host_files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.group(ALL).children.append(UNGROUPED)
        self.group(UNGROUPED)

    # -- building (what the parsers call) ----------------------------------------

    def group(self, name: str) -> Group:
        """Returns group `name`, adding it when new."""
        if name not in self.groups:
            self.groups[name] = Group(name)
        return self.groups[name]

    def add_host(self, host: str, group: str | None = None, port: int | None = None) -> None:
        """Adds `host` (to `group`); a port from the host pattern is set only when the
        host is first seen, as Ansible does."""
        if not host:
            raise InventoryError(f"{self.source}: an empty host name")
        if host not in self.hosts:
            self.hosts[host] = {}
            if port:
                self.hosts[host]["ansible_port"] = int(port)
        if group is not None:
            members = self.group(group).hosts
            if host not in members:
                members.append(host)

    def set_group_var(self, group: str, key: str, value: Any) -> None:
        """Sets a group var (`ansible_group_priority` sets the group's priority instead)."""
        if key == PRIORITY_VAR:
            self.group(group).priority = int(value)
        else:
            self.group(group).vars[key] = value

    def add_child(self, parent: str, child: str) -> None:
        """Makes `child` a child of `parent`. Raises InventoryError for a loop."""
        if parent == child or parent in self.descendants(child):
            raise InventoryError(
                f"{self.source}: adding group {child!r} as a child of {parent!r} makes a loop"
            )
        children = self.group(parent).children
        if child not in children:
            children.append(child)
        self.group(child)

    def finish(self) -> None:
        """Ansible's reconcile: parentless groups under `all`, lone hosts in `ungrouped`."""
        parents = {c for g in self.groups.values() for c in g.children}
        for name in list(self.groups):
            if name != ALL and name not in parents:
                self.add_child(ALL, name)
        grouped = {
            h for g in self.groups.values() if g.name not in (ALL, UNGROUPED) for h in g.hosts
        }
        ungrouped = self.groups[UNGROUPED].hosts
        ungrouped[:] = [h for h in ungrouped if h not in grouped]
        for host in self.hosts:
            if host not in grouped and host not in ungrouped:
                ungrouped.append(host)

    # -- reading -------------------------------------------------------------------

    def descendants(self, name: str) -> set[str]:
        """Returns every group below `name`."""
        seen: set[str] = set()
        todo = list(self.groups[name].children) if name in self.groups else []
        while todo:
            child = todo.pop()
            if child not in seen:
                seen.add(child)
                todo.extend(self.groups[child].children)
        return seen

    def depths(self) -> dict[str, int]:
        """Returns each group's depth: its longest path from `all` (0)."""
        depth = {ALL: 0}
        order = self._topological()
        for name in order:
            for child in self.groups[name].children:
                depth[child] = max(depth.get(child, 0), depth.get(name, 0) + 1)
        return depth

    def _topological(self) -> list[str]:
        incoming = {name: 0 for name in self.groups}
        for g in self.groups.values():
            for child in g.children:
                incoming[child] += 1
        ready = [n for n, k in incoming.items() if k == 0]
        out = []
        while ready:
            name = ready.pop()
            out.append(name)
            for child in self.groups[name].children:
                incoming[child] -= 1
                if incoming[child] == 0:
                    ready.append(child)
        return out

    def groups_of(self, host: str) -> list[str]:
        """Returns every group `host` is in, ancestors included, `all` first, then in
        Ansible's merge order."""
        parents: dict[str, list[str]] = {}
        for g in self.groups.values():
            for child in g.children:
                parents.setdefault(child, []).append(g.name)
        found: set[str] = set()
        todo = [g.name for g in self.groups.values() if host in g.hosts]
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo.extend(parents.get(name, []))
        found.add(ALL)
        depth = self.depths()
        return sorted(found, key=lambda n: (depth.get(n, 0), self.groups[n].priority, n))

    def host_vars(self, host: str) -> dict[str, Any]:
        """Returns `host`'s vars merged in Ansible's order (see the module docstring)."""
        groups = self.groups_of(host)
        merged: dict[str, Any] = {}
        for name in groups:
            merged.update(self.groups[name].vars)
        for name in groups:
            merged.update(self.group_files.get(name, {}))
        merged.update(self.hosts.get(host, {}))
        merged.update(self.host_files.get(host, {}))
        return merged


def from_list_json(data: dict[str, Any], source: Path) -> Inventory:
    """Builds an Inventory from `ansible-inventory --list` output (hostvars already merged).

    Raises InventoryError for a document that is not that output.
    """
    meta = data.get("_meta")
    if not isinstance(meta, dict) or not isinstance(meta.get("hostvars", {}), dict):
        raise InventoryError(f"{source}: not the output of ansible-inventory --list")
    inv = Inventory(source)
    for name, body in data.items():
        if name == "_meta" or not isinstance(body, dict):
            continue
        inv.group(name)
        for host in body.get("hosts") or ():
            inv.add_host(str(host), name)
        for key, value in (body.get("vars") or {}).items():
            inv.set_group_var(name, key, value)
    for name, body in data.items():
        if name != "_meta" and isinstance(body, dict):
            for child in body.get("children") or ():
                inv.add_child(name, str(child))
    for host, hostvars in meta.get("hostvars", {}).items():
        inv.add_host(str(host))
        inv.hosts[str(host)].update(hostvars or {})
    inv.finish()
    return inv


def dump_json(inv: Inventory) -> str:
    """Returns the inventory as `ansible-inventory --list` prints it (for tests and
    `devices import --dry-run --json`)."""
    hostvars = {h: inv.host_vars(h) for h in inv.hosts}
    out: dict[str, Any] = {"_meta": {"hostvars": {h: v for h, v in hostvars.items() if v}}}
    for name, group in inv.groups.items():
        body: dict[str, Any] = {}
        if group.children:
            body["children"] = list(group.children)
        if group.hosts and name != ALL:
            body["hosts"] = list(group.hosts)
        if body:
            out[name] = body
    return json.dumps(out, indent=2, sort_keys=True, default=str)
