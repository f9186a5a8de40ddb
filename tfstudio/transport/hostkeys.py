"""Strict host-key checking: tfstudio's own known_hosts, then the files ssh would read.

An unknown key is refused with its SHA256 fingerprint and the command that
trusts it; a key that differs from a recorded one of the same type is refused
loudly as a possible man-in-the-middle. Nothing is ever added without the
user's say-so (`tfstudio devices trust`), i.e. paramiko's AutoAddPolicy is never
used, whatever StrictHostKeyChecking says.

The files are those the ssh config names (UserKnownHostsFile, then
GlobalKnownHostsFile; by default ~/.ssh/known_hosts, known_hosts2 and the
/etc/ssh ones), read as OpenSSH reads them (`tfstudio.transport.knownhosts`):
HostKeyAlias, `[host]:port`, patterns, hashed names, `@revoked` keys and
`@cert-authority` host certificates (`tfstudio.transport.hostcert`).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tfstudio.atomic import write_bytes_atomic
from tfstudio.config import studio_home
from tfstudio.errors import HostKeyChangedError, HostKeyError, HostKeyRevokedError
from tfstudio.transport.knownhosts import HostKeys, lookup, lookup_name

if TYPE_CHECKING:
    import paramiko

KNOWN_HOSTS_NAME = "known_hosts"
"""tfstudio's own known_hosts file, inside TFSTUDIO_HOME."""


def host_entry(host: str, port: int, alias: str | None = None) -> str:
    """Returns the known_hosts name of `host:port` (`host`, `[host]:port`, or the alias)."""
    return lookup_name(host, port, alias)


def fingerprint(key: paramiko.PKey) -> str:
    """Returns OpenSSH's `SHA256:...` fingerprint of a public key."""
    return line_fingerprint(key.asbytes())


def studio_known_hosts() -> Path:
    """Returns the path of tfstudio's known_hosts (it may not exist yet)."""
    return studio_home() / KNOWN_HOSTS_NAME


DEFAULT_USER_FILES = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
DEFAULT_GLOBAL_FILES = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")
"""The files ssh reads when the config names none (UserKnownHostsFile, GlobalKnownHostsFile)."""

RSA_SIGNATURES = ("rsa-sha2-512", "rsa-sha2-256")
"""What a recorded `ssh-rsa` key is negotiated as: the same key, signed with SHA-2."""


def known_files(config_files: Sequence[str] = ()) -> list[Path]:
    """Returns the files a host key is looked up in: tfstudio's own, then the ones the
    ssh config names (else ssh's defaults: the user's, then the global ones)."""
    names = config_files or (*DEFAULT_USER_FILES, *DEFAULT_GLOBAL_FILES)
    return [studio_known_hosts(), *(Path(os.path.expanduser(n)) for n in names)]


def load_known(
    host: str,
    port: int,
    files: Sequence[Path] | None = None,
    *,
    alias: str | None = None,
) -> HostKeys:
    """Returns what the files record for `host:port` (looked up as ssh does: by
    HostKeyAlias when given, `[host]:port` off port 22).

    Raises HostKeyError only when a known_hosts file exists but cannot be read.
    """
    return lookup(lookup_name(host, port, alias), files if files is not None else known_files())


def preferred_key_types(known: HostKeys) -> tuple[str, ...]:
    """The host key algorithms to offer first, as OpenSSH orders them: the types already
    recorded for the host (so a legitimate host shows a key we know), certificate types
    first when a @cert-authority covers it."""
    types: list[str] = []
    for key_type in known.key_types:
        types.extend(RSA_SIGNATURES if key_type == "ssh-rsa" else (key_type,))
    if known.authorities:
        plain = types or ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                          "ecdsa-sha2-nistp521", *RSA_SIGNATURES]  # fmt: skip
        types = [f"{t}-cert-v01@openssh.com" for t in plain] + types
    return tuple(types)


def verify(
    host: str,
    port: int,
    key: paramiko.PKey,
    device: str | None = None,
    *,
    jump_host: bool = False,
    alias: str | None = None,
    files: Sequence[Path] | None = None,
) -> None:
    """Returns when `key` is trusted for `host:port` as ssh would trust it; raises
    HostKeyError otherwise. The decision follows OpenSSH's check_host_key:

    1. A host certificate from a CA that a @cert-authority line names for the host,
       valid now and for this host, is trusted; any other certificate is checked
       again as the plain key it certifies.
    2. A @revoked key (or CA) for the host is refused: HostKeyRevokedError.
    3. A recorded key equal to it is trusted; recorded keys that all differ (of any
       type: ssh negotiates the recorded types first) are a possible
       man-in-the-middle: HostKeyChangedError.
    4. Nothing recorded under `[host]:port`: the bare `host` is tried (without a
       HostKeyAlias), as ssh does; else the key is unknown, with the fingerprint and
       the trust command in the error (for a ProxyJump hop, `device` is its alias:
       it is trusted by registering it as a device).
    """
    files = list(files) if files is not None else known_files()
    known = load_known(host, port, files, alias=alias)
    bare = load_known(host, 22, files) if alias is None and port != 22 else None
    fp = fingerprint(key)
    what = "jump host key" if jump_host else "host key"
    cert_blob = _certificate_blob(key)
    if cert_blob is not None and _certificate_trusted(cert_blob, known, bare, alias or host, what):
        return
    blob = key.asbytes()
    for records in (known, bare):
        revoked = records.revoked_line(blob) if records is not None else None
        if revoked is not None:
            raise HostKeyRevokedError(
                f"{what.upper()} OF {known.name} IS REVOKED ({key.get_name()} {fp}, marked "
                f"@revoked in {revoked.path} line {revoked.number}); refusing to connect",
                hint="the device must get a new host key; then verify and trust that one",
            )
    if any(line.key_blob == blob for line in known.keys):
        return
    if known.keys:
        old = known.keys[0]
        raise HostKeyChangedError(
            f"{what.upper()} FOR {known.name} HAS CHANGED: POSSIBLE MAN-IN-THE-MIDDLE ATTACK; "
            f"refusing to connect (offered {key.get_name()} {fp}, recorded {old.key_type} "
            f"{line_fingerprint(old.key_blob)} in {old.path} line {old.number})",
            hint="if the device was really re-installed, verify the new fingerprint out "
            f"of band, then run: {trust_command(device or host, fp)} --replace",
        )
    if bare is not None and any(line.key_blob == blob for line in bare.keys):
        return  # recorded for the bare host name: ssh's "found matching key w/out port"
    command = trust_command(device or host, fp)
    if jump_host:
        import shlex

        # Register the jump host by its address and port, so that trusting it
        # records exactly the host:port this connection goes through.
        name = _device_name_for(device or host)
        where = f"--host {shlex.quote(host)}" + (f" --port {port}" if port != 22 else "")
        command = f"tfstudio devices add {name} {where} && {trust_command(name, fp)}"
    raise HostKeyError(
        f"{what} of {known.name} is unknown ({key.get_name()} {fp}); refusing to connect",
        hint=f"check the fingerprint out of band, then run: {command}",
    )


def _certificate_blob(key: paramiko.PKey) -> bytes | None:
    blob = getattr(key, "public_blob", None)
    if blob is None or not str(getattr(blob, "key_type", "")).endswith("-cert-v01@openssh.com"):
        return None
    return bytes(blob.key_blob)


def _certificate_trusted(
    cert_blob: bytes, known: HostKeys, bare: HostKeys | None, principal: str, what: str
) -> bool:
    """True when a trusted CA signed a certificate valid for `principal` now; False sends
    the caller on to the plain key, as ssh retries with it. A @revoked CA raises
    HostKeyRevokedError."""
    from tfstudio.transport import hostcert

    try:
        cert = hostcert.parse(cert_blob)
    except (ValueError, IndexError, struct.error):
        return False
    for records in (known, bare):
        if records is None:
            continue
        revoked = records.revoked_line(cert.ca_blob)
        if revoked is not None:
            raise HostKeyRevokedError(
                f"the CA that signed the {what} of {known.name} is @revoked "
                f"({revoked.path} line {revoked.number}); refusing to connect"
            )
        if any(hostcert.signed_by(cert, line.key_blob) for line in records.authorities):
            return hostcert.problem(cert, principal) is None
    return False


def line_fingerprint(blob: bytes) -> str:
    """Returns OpenSSH's `SHA256:...` fingerprint of a public key blob."""
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def _device_name_for(alias: str) -> str:
    """Returns a valid device name for a jump host's alias (`bastion`, `10.0.0.2`)."""
    import re

    name = re.sub(r"[^A-Za-z0-9_.-]", "-", alias).strip("-.")[:63] or "jump"
    return name if name[0].isalnum() else f"jump-{name}"[:63]


def trust_command(device: str, fp: str) -> str:
    """Returns the CLI command that trusts `fp` for `device`."""
    import shlex

    return f"tfstudio devices trust {shlex.quote(device)} --fingerprint {fp}"


def record(
    host: str,
    port: int,
    key: paramiko.PKey,
    *,
    replace: bool = False,
    alias: str | None = None,
) -> Path:
    """Adds `key` for `host:port` (recorded under HostKeyAlias `alias` when given, as ssh
    looks it up) to tfstudio's known_hosts and returns the file.

    With `replace`, other keys recorded there for the host are dropped; without
    it, a different key of the same type raises HostKeyError. The file is
    rewritten atomically under a lock; bytes it cannot decode are kept as they are.
    """
    path = studio_known_hosts()
    entry = host_entry(host, port, alias)
    line = f"{entry} {key.get_name()} {key.get_base64()}"
    with _locked(path):
        kept: list[str] = []
        if path.exists():
            for raw in path.read_bytes().decode("latin-1").splitlines():
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
        write_bytes_atomic(path, ("\n".join(kept) + "\n").encode("latin-1"))
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
