"""Strict host-key checking: tfstudio's own known_hosts plus the user's.

An unknown key is refused with its SHA256 fingerprint and the command that
trusts it; a key that differs from a recorded one is refused loudly as a
possible man-in-the-middle. Nothing is ever added without the user's say-so
(`tfstudio devices trust`), i.e. paramiko's AutoAddPolicy is never used.
Hosts on a port other than 22 are recorded as `[host]:port`, as OpenSSH does.

The files are read line by line, as OpenSSH reads them: a `@revoked` key is
refused wherever it shows up, `@cert-authority` lines are skipped (tfstudio
does not check host certificates; the unknown-key error says so), and a line
that cannot be parsed is skipped, never fatal.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tfstudio.atomic import write_text_atomic
from tfstudio.config import studio_home
from tfstudio.errors import HostKeyChangedError, HostKeyError, HostKeyRevokedError

if TYPE_CHECKING:
    import paramiko
    from paramiko.hostkeys import HostKeyEntry

KNOWN_HOSTS_NAME = "known_hosts"
"""tfstudio's own known_hosts file, inside TFSTUDIO_HOME."""


def host_entry(host: str, port: int) -> str:
    """Returns the known_hosts name of `host:port` (`host` or `[host]:port`)."""
    return host if port == 22 else f"[{host}]:{port}"


def fingerprint(key: paramiko.PKey) -> str:
    """Returns OpenSSH's `SHA256:...` fingerprint of a public key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def studio_known_hosts() -> Path:
    """Returns the path of tfstudio's known_hosts (it may not exist yet)."""
    return studio_home() / KNOWN_HOSTS_NAME


def user_known_hosts() -> Path:
    """Returns the path of the user's `~/.ssh/known_hosts`."""
    return Path.home() / ".ssh" / "known_hosts"


@dataclass(frozen=True)
class KnownKeys:
    """The keys recorded for one host entry: {key type: (key, file it came from)},
    the revoked keys ({key blob: file}) and files holding @cert-authority lines."""

    entry: str
    keys: dict[str, tuple[paramiko.PKey, Path]]
    revoked: dict[bytes, Path] = field(default_factory=dict)
    cert_authorities: tuple[Path, ...] = ()

    @property
    def key_types(self) -> list[str]:
        """Key types recorded for the host, to prefer them in the key exchange."""
        return list(self.keys)


def _entries(path: Path) -> Iterator[tuple[str, HostKeyEntry]]:
    """Yields (marker, entry) for each usable line of a known_hosts file ("" = no marker)."""
    from paramiko.hostkeys import HostKeyEntry

    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise HostKeyError(f"cannot read known_hosts file {path}: {exc.strerror}") from exc
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        marker = ""
        if line.startswith("@"):
            marker, _, line = line.partition(" ")
            line = line.strip()
        try:
            entry = HostKeyEntry.from_line(line, number)
        except Exception:  # noqa: BLE001 - paramiko raises several types; a bad line is skipped
            entry = None
        if entry is not None and entry.key is not None:
            yield marker, entry


def load_known(host: str, port: int, files: list[Path] | None = None) -> KnownKeys:
    """Returns the keys recorded for `host:port` in tfstudio's and the user's files.

    Raises HostKeyError only when a known_hosts file exists but cannot be read.
    """
    import paramiko

    entry = host_entry(host, port)
    found: dict[str, tuple[paramiko.PKey, Path]] = {}
    revoked: dict[bytes, Path] = {}
    authorities: list[Path] = []
    for path in files if files is not None else [studio_known_hosts(), user_known_hosts()]:
        if not path.is_file():
            continue
        keys = paramiko.HostKeys()
        for marker, line in _entries(path):
            if marker == "@revoked":
                revoked.setdefault(line.key.asbytes(), path)
            elif marker == "@cert-authority":
                if path not in authorities:
                    authorities.append(path)
            elif not marker:
                for name in line.hostnames:
                    keys.add(name, line.key.get_name(), line.key)
        for key_type, key in (keys.lookup(entry) or {}).items():
            if key.asbytes() not in revoked:
                found.setdefault(key_type, (key, path))
    found = {t: (k, p) for t, (k, p) in found.items() if k.asbytes() not in revoked}
    return KnownKeys(entry, found, revoked, tuple(authorities))


def verify(
    host: str,
    port: int,
    key: paramiko.PKey,
    device: str | None = None,
    *,
    jump_host: bool = False,
) -> None:
    """Returns when `key` is recorded for `host:port`; raises HostKeyError otherwise.

    The error for an unknown key carries the fingerprint and the trust command
    (for a ProxyJump hop, `device` is its alias: it is trusted by registering
    it as a device); the one for a changed key says it may be a
    man-in-the-middle attack.
    """
    known = load_known(host, port)
    fp = fingerprint(key)
    what = "jump host key" if jump_host else "host key"
    if key.asbytes() in known.revoked:
        raise HostKeyRevokedError(
            f"{what.upper()} OF {known.entry} IS REVOKED ({key.get_name()} {fp}, marked "
            f"@revoked in {known.revoked[key.asbytes()]}); refusing to connect",
            hint="the device must get a new host key; then verify and trust that one",
        )
    recorded = known.keys.get(key.get_name())
    if recorded is not None and recorded[0].asbytes() == key.asbytes():
        return
    if known.keys:
        old_key, path = recorded or next(iter(known.keys.values()))
        raise HostKeyChangedError(
            f"{what.upper()} FOR {known.entry} HAS CHANGED: POSSIBLE MAN-IN-THE-MIDDLE ATTACK; "
            f"refusing to connect (offered {key.get_name()} {fp}, "
            f"recorded {old_key.get_name()} {fingerprint(old_key)} in {path})",
            hint="if the device was really re-installed, verify the new fingerprint out "
            f"of band, then run: {trust_command(device or host, fp)} --replace",
        )
    command = trust_command(device or host, fp)
    if jump_host:
        import shlex

        # Register the jump host by its address and port, so that trusting it
        # records exactly the host:port this connection goes through.
        name = _device_name_for(device or host)
        where = f"--host {shlex.quote(host)}" + (f" --port {port}" if port != 22 else "")
        command = f"tfstudio devices add {name} {where} && {trust_command(name, fp)}"
    note = ""
    if known.cert_authorities:
        files = ", ".join(str(p) for p in known.cert_authorities)
        note = (
            f" (note: @cert-authority lines in {files} are skipped: tfstudio does not "
            "check host certificates)"
        )
    raise HostKeyError(
        f"{what} of {known.entry} is unknown ({key.get_name()} {fp}); refusing to connect",
        hint=f"check the fingerprint out of band, then run: {command}{note}",
    )


def _device_name_for(alias: str) -> str:
    """Returns a valid device name for a jump host's alias (`bastion`, `10.0.0.2`)."""
    import re

    name = re.sub(r"[^A-Za-z0-9_.-]", "-", alias).strip("-.")[:63] or "jump"
    return name if name[0].isalnum() else f"jump-{name}"[:63]


def trust_command(device: str, fp: str) -> str:
    """Returns the CLI command that trusts `fp` for `device`."""
    import shlex

    return f"tfstudio devices trust {shlex.quote(device)} --fingerprint {fp}"


def record(host: str, port: int, key: paramiko.PKey, *, replace: bool = False) -> Path:
    """Adds `key` for `host:port` to tfstudio's known_hosts and returns the file.

    With `replace`, other keys recorded there for the host are dropped; without
    it, a different key of the same type raises HostKeyError. The file is
    rewritten atomically under a lock.
    """
    path = studio_known_hosts()
    entry = host_entry(host, port)
    line = f"{entry} {key.get_name()} {key.get_base64()}"
    with _locked(path):
        kept: list[str] = []
        if path.exists():
            for raw in path.read_text(encoding="utf-8").splitlines():
                words = raw.split()
                if len(words) >= 3 and entry in words[0].split(","):
                    same_type = words[1] == key.get_name()
                    if words[2] == key.get_base64() and same_type:
                        return path
                    if replace:
                        continue
                    if same_type:
                        raise HostKeyError(
                            f"{path} already holds a different {words[1]} key for {entry}",
                            hint="pass --replace after verifying the new fingerprint",
                        )
                kept.append(raw)
        kept.append(line)
        write_text_atomic(path, "\n".join(kept) + "\n")
    return path


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Several fan-out workers or CLI processes may trust at once.
    lock = path.with_name(path.name + ".lock")
    with open(lock, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
