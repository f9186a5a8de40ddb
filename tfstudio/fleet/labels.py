"""Device labels, groups, and the selectors that pick devices by them.

A device carries `labels` (KEY=VALUE pairs: `site=lab`, `hw=pi4`) and
`groups` (names: `cameras`; an Ansible import's groups land here). A
selector is what `--on` (and every other place devices are named) takes,
a comma-separated list of terms:

- `all`: every device, the built-in `local` included;
- `NAME`: a device by name (several names: each of them, in that order);
- `group:G` (or `group:G1|G2`): devices in group G (in any of them);
- `KEY=VALUE` (or `KEY=V1|V2`), `KEY!=VALUE`.

Names add devices; the other terms filter, and every filter must hold (AND,
as in Kubernetes' label selectors): `site=lab,hw=pi4` is the lab's Pi 4s.
Filters pick among registered devices only (`local` has no labels; name it
to include it). A selector either names devices or filters them: mixing both
is refused, since `pi1,site=lab` reads two ways.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from tfstudio.errors import DeviceError

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,62}$")
_VALUE = re.compile(r"^[A-Za-z0-9_./:@+-]{0,63}$")
_GROUP = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$")
RESERVED_KEYS = frozenset({"group", "all"})
"""Label keys that would read as another term (`group:x`, `all`)."""


class Labelled(Protocol):
    """What a selector reads of a device."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def groups(self) -> Sequence[str]: ...


def validate_key(key: str) -> str:
    """Returns `key` if it is a valid label key; raises DeviceError otherwise."""
    if not _KEY.match(key) or key in RESERVED_KEYS:
        raise DeviceError(
            f"invalid label key {key!r}",
            hint="1-63 letters, digits, '_', '.', '/' or '-', starting with a letter or "
            "digit; 'group' and 'all' are taken (groups: --group NAME)",
        )
    return key


def validate_value(key: str, value: str) -> str:
    """Returns `value` if it is a valid value for `key`; raises DeviceError otherwise."""
    if not _VALUE.match(value):
        raise DeviceError(
            f"invalid value {value!r} for label {key}",
            hint="up to 63 letters, digits, '_', '.', '/', ':', '@', '+' or '-' "
            "(no spaces, commas, '=' or '|')",
        )
    return value


def validate_group(group: str) -> str:
    """Returns `group` if it is a valid group name; raises DeviceError otherwise."""
    if not _GROUP.match(group) or group == "all":
        raise DeviceError(
            f"invalid group name {group!r}",
            hint="1-63 letters, digits, '_', '.' or '-' ('all' is every device)",
        )
    return group


def parse_changes(words: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Parses `devices label` words: `KEY=VALUE` sets, `KEY-` removes.

    Returns (labels to set, keys to remove). Raises DeviceError for a bad word.
    """
    setting: dict[str, str] = {}
    removing: list[str] = []
    for word in words:
        if "=" in word:
            key, value = word.split("=", 1)
            setting[validate_key(key)] = validate_value(key, value)
        elif word.endswith("-") and len(word) > 1:
            removing.append(validate_key(word[:-1]))
        else:
            raise DeviceError(
                f"{word!r} is neither KEY=VALUE nor KEY-",
                hint="set with site=lab, remove with site-",
            )
    clash = sorted(set(setting) & set(removing))
    if clash:
        raise DeviceError(f"label {clash[0]} is both set and removed")
    return setting, removing


@dataclass(frozen=True)
class Term:
    """One filter of a selector."""

    kind: str  # "group" or "label"
    key: str
    values: tuple[str, ...]
    negate: bool = False

    def holds(self, device: Labelled) -> bool:
        """True when `device` passes this filter."""
        if self.kind == "group":
            return any(g in device.groups for g in self.values)
        have = device.labels.get(self.key)
        found = have is not None and have in self.values
        return not found if self.negate else found

    def __str__(self) -> str:
        joined = "|".join(self.values)
        if self.kind == "group":
            return f"group:{joined}"
        return f"{self.key}{'!=' if self.negate else '='}{joined}"


@dataclass(frozen=True)
class Selector:
    """A parsed selector: `every` (all), names, or filters."""

    text: str
    every: bool = False
    names: tuple[str, ...] = ()
    filters: tuple[Term, ...] = ()

    def matches(self, device: Labelled) -> bool:
        """True when `device` is picked (a registered device, for filters)."""
        if self.names:
            return device.name in self.names
        if self.filters:
            return device.kind != "local" and all(t.holds(device) for t in self.filters)
        return self.every


def _term(word: str, text: str) -> Term:
    if word.startswith("group:"):
        groups = word[len("group:") :].split("|")
        return Term("group", "group", tuple(validate_group(g) for g in groups))
    negate = "!=" in word
    key, _, value = word.partition("!=" if negate else "=")
    validate_key(key)
    values = tuple(validate_value(key, v) for v in value.split("|"))
    if negate and len(values) > 1:
        raise DeviceError(f"{word!r}: '!=' takes one value", hint=f"in {text!r}")
    return Term("label", key, values, negate)


def parse(text: str) -> Selector:
    """Parses a selector (see the module docstring). Raises DeviceError, naming the
    term that is wrong."""
    words = [w.strip() for w in text.split(",") if w.strip()]
    if not words:
        raise DeviceError(
            "no device named", hint="use --on NAME[,NAME...], a selector (site=lab) or all"
        )
    every = "all" in words
    names: list[str] = []
    filters: list[Term] = []
    for word in words:
        if word == "all":
            continue
        if word.startswith("group:") or "=" in word:
            filters.append(_term(word, text))
        else:
            names.append(word)  # get_device says when it is no valid name
    if names and (filters or every):
        raise DeviceError(
            f"{text!r} mixes device names with {'all' if every else 'label filters'}",
            hint="name devices (pi1,pi2) or filter them (site=lab,group:cameras), not both",
        )
    return Selector(text, every and not filters, tuple(dict.fromkeys(names)), tuple(filters))


def select(selector: Selector, devices: Sequence[Labelled]) -> list[Labelled]:
    """Returns the devices `selector` picks, in `devices` order (names: in the selector's
    order). Raises DeviceError when a filter picks nothing."""
    if selector.names:
        by_name = {d.name: d for d in devices}
        return [by_name[n] for n in selector.names if n in by_name]
    picked = [d for d in devices if selector.matches(d)]
    if selector.filters and not picked:
        raise DeviceError(
            f"no device matches {selector.text!r}",
            hint="see each device's labels and groups: tfstudio devices list",
        )
    return picked


def describe(labels: Mapping[str, str], groups: Sequence[str]) -> str:
    """Returns labels and groups as one short text: `site=lab hw=pi4 group:cameras`."""
    parts = [f"{k}={v}" for k, v in sorted(labels.items())]
    parts += [f"group:{g}" for g in groups]
    return " ".join(parts)
