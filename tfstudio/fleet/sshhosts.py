"""The `Host` entries of an ssh config that name one host: what `devices import --ssh-config`
turns into devices.

Every `Host` line's patterns are read (in `Match` blocks too), following `Include`
(globs; a relative path is under ~/.ssh, as OpenSSH reads a user's config) up to
OpenSSH's depth of 16. A pattern with `*` or `?`, or negated with `!`, names no one
host and is left out. Words are split as OpenSSH splits them. The options of each
host are not read here: the device keeps its alias and the config file, and each
connection resolves them as ssh does (`ssh -G`).
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from tfstudio.errors import ConfigError
from tfstudio.transport.sshconfig_reader import MAX_DEPTH, split_words
from tfstudio.transport.sshtokens import home_dir, tilde_expand


def _keyword(line: str) -> tuple[str, str]:
    """`Keyword value`, `Keyword=value` or `Keyword = value`."""
    i = 0
    while i < len(line) and line[i] not in " \t=":
        i += 1
    rest = line[i:].lstrip(" \t")
    if rest.startswith("="):
        rest = rest[1:].lstrip(" \t")
    return line[:i].lower(), rest.strip()


def is_single_host(pattern: str) -> bool:
    """True when a Host pattern names exactly one host (no wildcard, no negation)."""
    return bool(pattern) and not pattern.startswith("!") and not any(c in pattern for c in "*?")


def host_aliases(path: Path) -> list[str]:
    """Returns the single-host aliases of `path`'s Host lines (and its Includes), in order,
    each once. Raises ConfigError for an unreadable file or bad quoting."""
    found: dict[str, None] = {}
    _read(path, found, 0)
    return list(found)


def _read(path: Path, found: dict[str, None], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ConfigError(f"{path}: too many recursive configuration includes")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        if depth == 0:
            raise ConfigError(f"ssh config {path} not found") from None
        return
    except OSError as exc:
        raise ConfigError(f"cannot read ssh config {path}: {exc.strerror}") from None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, rest = _keyword(line)
        where = f"{path} line {number}"
        if keyword == "host":
            for pattern in split_words(rest, where):
                if is_single_host(pattern):
                    found.setdefault(pattern, None)
        elif keyword == "include":
            for word in split_words(rest, where):
                target = tilde_expand(word)
                if not os.path.isabs(target):
                    target = os.path.join(home_dir(), ".ssh", target)
                for match in sorted(glob.glob(target)):
                    _read(Path(match), found, depth + 1)
