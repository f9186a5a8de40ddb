"""Host-key trust in two calls, so a front end can ask the user between them.

`scan(device)` connects just far enough to read the key the device offers and
returns a `HostKeyOffer` (fingerprint, and whether the key is unknown, already
trusted, or different from the one recorded). `record(offer)` stores exactly
the key the user saw. Nothing is recorded by `scan`, and `record` refuses to
replace a changed key unless told to.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tfstudio.errors import HostKeyChangedError, HostKeyError, HostKeyRevokedError, UsageError
from tfstudio.fleet.registry import LOCAL, Device

UNKNOWN = "unknown"
TRUSTED = "trusted"
CHANGED = "changed"


@dataclass(frozen=True)
class HostKeyOffer:
    """The key a device offered, and how it compares with what is recorded."""

    device: str
    host: str
    port: int
    entry: str
    key_type: str
    key_base64: str
    fingerprint: str
    status: str  # UNKNOWN, TRUSTED or CHANGED
    recorded_fingerprint: str | None = None
    alias: str | None = None
    """The HostKeyAlias the key is recorded under (ssh looks it up by that name)."""

    @property
    def text(self) -> str:
        """One line a user compares with the device's own `ssh-keygen -lf` output."""
        return f"{self.entry} {self.key_type} {self.fingerprint}"

    def to_json(self) -> dict[str, Any]:
        """Returns the fields as a dict (the key itself included)."""
        return asdict(self)


def scan(device: Device, *, connect_timeout: float | None = None) -> HostKeyOffer:
    """Returns the host key `device` offers, compared with the recorded ones.

    Raises UsageError for `local`, TransportError when the device cannot be
    reached, HostKeyRevokedError when the offered key is marked @revoked,
    HostKeyError when a known_hosts file is unreadable.
    """
    from tfstudio.transport import hostkeys, sshconfig
    from tfstudio.transport.ssh import scan_host_key

    if device.kind == LOCAL:
        raise UsageError("'local' is not reached over SSH; there is no host key to trust")
    assert device.host is not None  # add_device guarantees it
    target = sshconfig.resolve(
        device.host,
        port=device.port,
        user=device.user,
        connect_timeout=connect_timeout,
        config_path=Path(device.ssh_config) if device.ssh_config else None,
    )
    key = scan_host_key(target, device.name)
    status, old_fp = _status(target, key, device.name)
    return HostKeyOffer(
        device=device.name,
        host=target.hostname,
        port=target.port,
        entry=hostkeys.host_entry(target.hostname, target.port, target.host_key_alias),
        key_type=key.get_name(),
        key_base64=key.get_base64(),
        fingerprint=hostkeys.fingerprint(key),
        status=status,
        recorded_fingerprint=old_fp,
        alias=target.host_key_alias,
    )


def _status(target: Any, key: Any, device: str) -> tuple[str, str | None]:
    """How the offered key compares with the records ssh would read: trusted, changed
    (with the recorded fingerprint) or unknown. A revoked key raises HostKeyRevokedError:
    it is never offered for trust."""
    from tfstudio.transport import hostkeys

    files = hostkeys.known_files(target.known_hosts)
    try:
        hostkeys.verify(
            target.hostname, target.port, key, device, alias=target.host_key_alias, files=files
        )
    except HostKeyChangedError:
        known = hostkeys.load_known(
            target.hostname, target.port, files, alias=target.host_key_alias
        )
        return CHANGED, hostkeys.line_fingerprint(known.keys[0].key_blob)
    except HostKeyRevokedError:
        raise
    except HostKeyError:
        return UNKNOWN, None
    return TRUSTED, None


def record(offer: HostKeyOffer, *, replace: bool = False) -> Path:
    """Records the offered key in tfstudio's known_hosts; returns the file.

    Raises HostKeyError for a changed key without `replace` (a possible
    man-in-the-middle) or when the file already holds another key of that type.
    """
    import base64

    import paramiko

    from tfstudio.transport import hostkeys

    if offer.status == CHANGED and not replace:
        raise HostKeyError(
            f"{offer.device}: the host key of {offer.entry} has CHANGED "
            f"(recorded {offer.recorded_fingerprint}, offered {offer.fingerprint}); "
            "nothing recorded",
            hint="if the device was re-installed, verify the new fingerprint out of band "
            "and replace the key",
        )
    key = paramiko.PKey.from_type_string(offer.key_type, base64.b64decode(offer.key_base64))
    if hostkeys.fingerprint(key) != offer.fingerprint:
        raise HostKeyError(f"{offer.device}: the offer's key does not match its fingerprint")
    return hostkeys.record(offer.host, offer.port, key, replace=replace, alias=offer.alias)
