"""`devices trust`: fetch a device's host key, show it, record it only when confirmed.

A key is recorded in tfstudio's known_hosts when `--fingerprint` matches it or
when the `confirm` callback (a terminal prompt in the CLI) says yes. A key that
differs from a recorded one is refused unless `replace` is given together with
a matching fingerprint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfstudio.errors import HostKeyChangedError, HostKeyError, HostKeyRevokedError, UsageError
from tfstudio.fleet import hostkeys, sshconfig
from tfstudio.fleet.registry import LOCAL, Device


@dataclass(frozen=True)
class TrustResult:
    """The outcome of a trust request."""

    device: str
    entry: str
    key_type: str
    fingerprint: str
    status: str  # "trusted", "already_trusted"

    def to_json(self) -> dict[str, Any]:
        """Returns the fields as a dict."""
        return dict(self.__dict__)


def trust_device(
    device: Device,
    *,
    fingerprint: str | None = None,
    confirm: Callable[[str], bool] | None = None,
    replace: bool = False,
) -> TrustResult:
    """Fetches and (when confirmed) records the host key of `device`.

    Raises HostKeyError when the fingerprint does not match, when nobody
    confirmed, or when the key changed and `replace` was not given.
    """
    from tfstudio.fleet.ssh import scan_host_key

    if device.kind == LOCAL:
        raise UsageError("'local' is not reached over SSH; there is no host key to trust")
    assert device.host is not None
    target = sshconfig.resolve(
        device.host,
        port=device.port,
        user=device.user,
        config_path=Path(device.ssh_config) if device.ssh_config else None,
    )
    key = scan_host_key(target, device.name)
    fp = hostkeys.fingerprint(key)
    entry = hostkeys.host_entry(target.hostname, target.port)
    result = TrustResult(device.name, entry, key.get_name(), fp, "trusted")
    changed = False
    try:
        hostkeys.verify(target.hostname, target.port, key, device.name)
        return TrustResult(device.name, entry, key.get_name(), fp, "already_trusted")
    except HostKeyRevokedError:
        raise  # a revoked key is never trusted, --replace or not
    except HostKeyChangedError:
        changed = True
        if not replace:
            raise
    except HostKeyError:
        pass  # unknown: trusted below when confirmed
    if fingerprint is not None:
        if fingerprint.strip() != fp:
            raise HostKeyError(
                f"{device.name}: the host key of {entry} is {key.get_name()} {fp}, "
                f"not {fingerprint.strip()}; nothing recorded",
                hint="check you are reaching the right device; it may be a man-in-the-middle",
            )
    elif changed or confirm is None or not confirm(f"{entry} {key.get_name()} {fp}"):
        raise HostKeyError(
            f"{device.name}: not trusted: host key of {entry} is {key.get_name()} {fp}",
            hint=f"verify it out of band, then run: {hostkeys.trust_command(device.name, fp)}",
        )
    hostkeys.record(target.hostname, target.port, key, replace=replace)
    return result
