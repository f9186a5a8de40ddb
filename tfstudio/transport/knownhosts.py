"""known_hosts files read as OpenSSH reads them (hostfile.c, match.c).

- The name looked up is HostKeyAlias when set, else the host name, as `[host]:port`
  when the port is not 22 (so a plain `host` entry is for port 22 only).
- A line's host field is a comma-separated pattern list: `*` and `?` wildcards (no
  character classes), `!` negation (a negated match excludes the line), compared
  without regard to case; or one hashed name `|1|salt|hmac` (HMAC-SHA1 of the name).
- `@revoked` marks a key refused for the matching hosts; `@cert-authority` a CA whose
  host certificates are accepted for them.
- Lines are bytes: a non-UTF-8 byte (in a comment, a host name) never stops the
  reading, and a line that does not parse is skipped, as ssh skips it.

`ssh-keygen -F` and `ssh` itself are the oracles of the tests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tfstudio.errors import HostKeyError

REVOKED = "@revoked"
CERT_AUTHORITY = "@cert-authority"


@dataclass(frozen=True)
class HostLine:
    """One usable line of a known_hosts file."""

    path: Path
    number: int
    marker: str
    """"" (a host key), REVOKED or CERT_AUTHORITY."""
    hosts: str
    key_type: str
    key_blob: bytes

    @property
    def key_base64(self) -> str:
        """The key as written in the file."""
        return base64.b64encode(self.key_blob).decode("ascii")


def lookup_name(host: str, port: int, alias: str | None = None) -> str:
    """Returns the name ssh looks `host:port` up under (alias, `host`, `[host]:port`)."""
    if alias:
        return alias.lower()
    return host if port == 22 else f"[{host}]:{port}"


def read_lines(path: Path) -> Iterator[HostLine]:
    """Yields the usable lines of `path` (none when it does not exist).

    Raises HostKeyError when the file exists but cannot be read.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    except IsADirectoryError:
        return
    except OSError as exc:
        raise HostKeyError(f"cannot read known_hosts file {path}: {exc.strerror}") from exc
    for number, raw in enumerate(data.split(b"\n"), 1):
        line = raw.decode("latin-1").strip()  # byte-transparent: names compare as bytes
        if not line or line.startswith("#"):
            continue
        marker = ""
        if line.startswith("@"):
            marker, _, line = line.partition(" ")
            if marker not in (REVOKED, CERT_AUTHORITY):
                continue
            line = line.lstrip()
        words = line.split()
        if len(words) < 3:
            continue
        hosts, key_type, key_text = words[0], words[1], words[2]
        try:
            blob = base64.b64decode(key_text, validate=True)
        except (binascii.Error, ValueError):
            continue
        if _blob_type(blob) != key_type:
            continue  # ssh parses the key itself; a mismatched type is a bad line
        yield HostLine(path, number, marker, hosts, key_type, blob)


def _blob_type(blob: bytes) -> str | None:
    """The key type written at the start of an SSH public key blob."""
    if len(blob) < 4:
        return None
    size = int.from_bytes(blob[:4], "big")
    if size > len(blob) - 4:
        return None
    try:
        return blob[4 : 4 + size].decode("ascii")
    except UnicodeDecodeError:
        return None


def host_matches(hosts: str, name: str) -> bool:
    """True when a line's host field matches `name` (hashed, or a pattern list)."""
    if hosts.startswith("|1|"):
        return _hashed_matches(hosts, name)
    return match_pattern_list(name.lower(), hosts, lower=True) == 1


def _hashed_matches(hosts: str, name: str) -> bool:
    parts = hosts.split("|")
    if len(parts) != 4:
        return False
    try:
        salt = base64.b64decode(parts[2], validate=True)
        expected = base64.b64decode(parts[3], validate=True)
    except (binascii.Error, ValueError):
        return False
    digest = hmac.new(salt, name.encode("latin-1"), hashlib.sha1).digest()
    return hmac.compare_digest(digest, expected)


def match_pattern(text: str, pattern: str) -> bool:
    """OpenSSH's match_pattern: `*` any run, `?` any one character, else literal."""
    t, p = 0, 0
    star_p, star_t = -1, 0
    while t < len(text):
        if p < len(pattern) and (pattern[p] == "?" or pattern[p] == text[t]):
            t += 1
            p += 1
        elif p < len(pattern) and pattern[p] == "*":
            star_p, star_t = p, t
            p += 1
        elif star_p != -1:
            p = star_p + 1
            star_t += 1
            t = star_t
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def match_pattern_list(text: str, patterns: str, *, lower: bool) -> int:
    """OpenSSH's match_pattern_list: 1 when a pattern matches, -1 when a negated one
    does (it wins), 0 when none does."""
    found = 0
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        if negated:
            pattern = pattern[1:]
        if lower:
            pattern = pattern.lower()
        if match_pattern(text, pattern):
            if negated:
                return -1
            found = 1
    return found


@dataclass(frozen=True)
class HostKeys:
    """What the files say about one looked-up name."""

    name: str
    keys: tuple[HostLine, ...]
    """Host keys recorded for the name, in file order."""
    authorities: tuple[HostLine, ...]
    """@cert-authority keys whose certificates are accepted for the name."""
    revoked: tuple[HostLine, ...]
    """@revoked keys for the name."""

    @property
    def key_types(self) -> list[str]:
        """The recorded key types, in file order, without repeats."""
        return list(dict.fromkeys(line.key_type for line in self.keys))

    def revoked_line(self, blob: bytes) -> HostLine | None:
        """The @revoked line of this key, if any."""
        return next((line for line in self.revoked if line.key_blob == blob), None)


def lookup(name: str, files: Iterable[Path]) -> HostKeys:
    """Returns the lines of `files` about `name`. Raises HostKeyError (unreadable file)."""
    keys: list[HostLine] = []
    authorities: list[HostLine] = []
    revoked: list[HostLine] = []
    seen: set[Path] = set()
    for path in files:
        if path in seen:
            continue
        seen.add(path)
        for line in read_lines(path):
            if not host_matches(line.hosts, name):
                continue
            if line.marker == REVOKED:
                revoked.append(line)
            elif line.marker == CERT_AUTHORITY:
                authorities.append(line)
            else:
                keys.append(line)
    return HostKeys(name, tuple(keys), tuple(authorities), tuple(revoked))
