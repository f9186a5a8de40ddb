"""Ansible's INI inventory format, read into an `Inventory` as Ansible's `ini` plugin reads it.

- Lines are stripped; empty lines and lines starting with `#` or `;` are skipped.
- `[group]`, `[group:children]` and `[group:vars]` start sections (a trailing `# ...`
  comment is allowed); lines before the first section are hosts of `ungrouped`.
- A host line is split as a shell would (`shlex`, with `#` comments): a host pattern,
  then `key=value` words. A pattern may carry a port (`host:2222`, `[v6]:2222`) and
  ranges (`web[01:10]`, `db-[a:c]`, `n[0:10:2]`), expanded as Ansible expands them.
- Values (on host lines and in `:vars` sections) are Python literals where they parse
  as one (`22` is a number, `'22'` a string, `True` a boolean), else text.
- A `:children` or `:vars` section may name a group declared further down; one never
  declared is an error.

The oracle is `ansible-inventory --list` (tests/fleet/test_inventory_oracle.py).
"""

from __future__ import annotations

import ast
import re
import shlex
import string
import warnings
from pathlib import Path
from typing import Any

from tfstudio.fleet.inventory import UNGROUPED, Inventory, InventoryError

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")

# Host patterns: where a port may be split off, and what counts as a host once it is.
_NUM_RANGE = r"\[[0-9]+:[0-9]+(?::[0-9]+)?\]"
_HEX_RANGE = r"\[[0-9a-f]+:[0-9a-f]+(?::[0-9]+)?\]"
_ANY_RANGE = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_BRACKETED_PORT = re.compile(r"^\[(.+)\]:([0-9]+)$")
_HOST_PORT = re.compile(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$")
_V4_PART = rf"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{_NUM_RANGE})"
_IPV4 = re.compile(rf"^(?:{_V4_PART}\.){{3}}{_V4_PART}$", re.I)
_V6_PART = rf"(?:[0-9a-f]{{1,4}}|{_HEX_RANGE})"
_IPV6 = re.compile(
    r"^(?:"
    + "|".join(
        [
            rf"(?:{_V6_PART}:){{7}}{_V6_PART}",
            rf"(?:{_V6_PART}:){{1,6}}:",
            rf"(?:{_V6_PART}:)(?::{_V6_PART}){{1,6}}",
            rf"(?:{_V6_PART}:){{2}}(?::{_V6_PART}){{1,5}}",
            rf"(?:{_V6_PART}:){{3}}(?::{_V6_PART}){{1,4}}",
            rf"(?:{_V6_PART}:){{4}}(?::{_V6_PART}){{1,3}}",
            rf"(?:{_V6_PART}:){{5}}(?::{_V6_PART}){{1,2}}",
            rf"(?:{_V6_PART}:){{6}}(?::{_V6_PART})",
            rf":(?::{_V6_PART}){{1,6}}",
            rf"{_V6_PART}?::",
            rf"(?:0:){{6}}(?:{_V6_PART}\.){{3}}{_V6_PART}",
            rf"::(?:ffff:)?(?:{_V6_PART}\.){{3}}{_V6_PART}",
            rf"(?:0:){{5}}ffff:(?:{_V6_PART}\.){{3}}{_V6_PART}",
        ]
    )
    + r")$",
    re.I,
)
_LABEL = rf"(?:\w|{_ANY_RANGE})(?:[\w_-]|{_ANY_RANGE})*(?<![_-])"
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$", re.I)


def split_port(pattern: str) -> tuple[str, int | None]:
    """Returns (host pattern, port or None). A pattern that is no valid host (after a
    port is split off) is kept whole, without a port, as Ansible keeps it."""
    host, port = pattern, None
    for regex in (_BRACKETED_PORT, _HOST_PORT):
        m = regex.match(host)
        if m:
            host, port = m.group(1), int(m.group(2))
    if any(r.match(host) for r in (_IPV4, _IPV6, _HOSTNAME)):
        return host, port
    return pattern, None


def expand(pattern: str, where: str = "") -> list[str]:
    """Expands the `[a:b(:step)]` ranges of a host pattern (numeric, zero-padded, or
    letters). Raises InventoryError for a malformed range."""
    if "[" not in pattern:
        return [pattern]
    head, _, rest = pattern.partition("[")
    inner, closed, tail = rest.partition("]")
    if not closed:
        raise InventoryError(f"{where}host range in {pattern!r} is not closed")
    bounds = inner.split(":")
    if len(bounds) not in (2, 3):
        raise InventoryError(f"{where}host range must be begin:end or begin:end:step")
    begin, end = bounds[0] or "0", bounds[1]
    step = bounds[2] if len(bounds) == 3 else "1"
    if not end:
        raise InventoryError(f"{where}host range must specify end value")
    width = len(begin) if begin[0] == "0" and len(begin) > 1 else 0
    if width and width != len(end):
        raise InventoryError(f"{where}host range must specify equal-length begin and end formats")
    letters = string.ascii_letters
    items: list[str]
    try:
        # Ansible looks a bound up as a substring of the letters, else reads a number.
        i, j = letters.index(begin), letters.index(end)
        if i > j:
            raise InventoryError(f"{where}host range must have begin <= end")
        items = list(letters[i : j + 1 : int(step)])
    except ValueError:
        try:
            numbers = range(int(begin), int(end) + 1, int(step))
        except ValueError as exc:
            raise InventoryError(f"{where}bad host range [{inner}]: {exc}") from None
        items = [str(n).zfill(width) if width else str(n) for n in numbers]
    out: list[str] = []
    for item in items:
        out.extend(expand(f"{head}{item}{tail}", where))
    return out


def value(text: str) -> Any:
    """A value as the ini plugin reads it: a Python literal where it is one, else text
    (tuples and sets become lists; complex numbers and `...` stay text)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            parsed: Any = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    except Exception as exc:  # noqa: BLE001 - Ansible fails the file on these too
        raise InventoryError(f"cannot read the value {text!r}: {exc}") from None
    return _coerce(parsed)


def _coerce(parsed: Any) -> Any:
    if isinstance(parsed, (list, tuple, set)):
        return [_coerce(v) for v in parsed]
    if isinstance(parsed, dict):
        return {_coerce(k): _coerce(v) for k, v in parsed.items()}
    if parsed is Ellipsis:
        return "..."
    if isinstance(parsed, complex):
        return str(parsed)
    if isinstance(parsed, bytes):
        return parsed.decode("utf-8", "surrogateescape")
    return parsed


def _host_line(line: str, where: str) -> tuple[list[str], int | None, dict[str, Any]]:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise InventoryError(f"{where}cannot parse host line {line!r}: {exc}") from None
    if not tokens:
        raise InventoryError(f"{where}cannot parse host line {line!r}")
    pattern = tokens[0]
    host, port = split_port(pattern)
    if pattern.strip().endswith(":") and port is None:
        raise InventoryError(f"{where}host pattern {pattern!r} ends in ':' (that is for a port)")
    hosts = expand(host, where)
    if any(h.strip() == "---" for h in hosts):
        raise InventoryError(f"{where}'---' is not a host: is this a YAML file?")
    variables: dict[str, Any] = {}
    for token in tokens[1:]:
        if "=" not in token:
            raise InventoryError(f"{where}expected key=value after the host, got {token!r}")
        key, raw = token.split("=", 1)
        variables[key] = value(raw)
    return hosts, port, variables


def parse(text: str, path: Path) -> Inventory:
    """Returns the Inventory of INI `text` (read from `path`). Raises InventoryError."""
    inv = Inventory(path)
    pending: dict[str, dict[str, Any]] = {}
    group, state = UNGROUPED, "hosts"

    def resolve_children(name: str) -> None:
        for parent in pending[name]["parents"]:
            inv.add_child(parent, name)
            if parent in pending and pending[parent]["state"] == "children":
                resolve_children(parent)
        del pending[name]

    for number, raw in enumerate(text.splitlines(), 1):
        where = f"{path} line {number}: "
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        m = _SECTION.match(line)
        if m:
            group, state = m.group(1), m.group(2) or "hosts"
            if state not in ("hosts", "children", "vars"):
                raise InventoryError(f"{where}section [{group}:{state}] has unknown type {state}")
            if group not in inv.groups:
                if state == "vars" and group not in pending:
                    pending[group] = {"line": number, "state": state, "parents": []}
                inv.group(group)
            if group in pending and state != "vars":
                if pending[group]["state"] == "children":
                    resolve_children(group)
                else:
                    del pending[group]
            continue
        if line.startswith("[") and line.endswith("]"):
            raise InventoryError(f"{where}invalid section {line!r} (no spaces inside [...])")
        if state == "hosts":
            hosts, port, variables = _host_line(line, where)
            for host in hosts:
                inv.add_host(host, group, port)
                inv.hosts[host].update(variables)
        elif state == "vars":
            if "=" not in line:
                raise InventoryError(f"{where}expected key=value, got {line!r}")
            key, raw_value = (part.strip() for part in line.split("=", 1))
            inv.set_group_var(group, key, value(raw_value))
        else:
            m = _GROUP_NAME.match(line)
            if not m:
                raise InventoryError(f"{where}expected a group name, got {line!r}")
            child = m.group(1)
            if child in inv.groups:
                inv.add_child(group, child)
            elif child in pending:
                pending[child]["parents"].append(group)
            else:
                pending[child] = {"line": number, "state": "children", "parents": [group]}
    for name, declared in pending.items():
        where = f"{path} line {declared['line']}: "
        if declared["state"] == "vars":
            raise InventoryError(f"{where}section [{name}:vars] is for a group never declared")
        raise InventoryError(
            f"{where}section [{declared['parents'][-1]}:children] names group {name!r}, "
            "never declared"
        )
    inv.finish()
    return inv
