"""`devices trust`: decide whether a device's offered host key gets recorded.

The key comes from `tfstudio.fleet.hostkey_offer.scan` (the same two calls the UI
uses: scan, then record). It is recorded in tfstudio's known_hosts when
`--fingerprint` matches it or when the `confirm` callback (a terminal prompt
in the CLI) says yes. A key that differs from a recorded one is refused unless
`replace` is given together with a matching fingerprint; a revoked key never
gets this far (scan refuses it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tfstudio.errors import HostKeyChangedError, HostKeyError
from tfstudio.fleet.hostkey_offer import CHANGED, TRUSTED, HostKeyOffer
from tfstudio.fleet.registry import Device
from tfstudio.transport import hostkeys


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
    connect_timeout: float | None = None,
) -> TrustResult:
    """Fetches and (when confirmed) records the host key of `device`.

    Raises UsageError for `local`, TransportError when the device cannot be
    reached, and what `trust_offer` raises.
    """
    from tfstudio.fleet import hostkey_offer

    offer = hostkey_offer.scan(device, connect_timeout=connect_timeout)
    return trust_offer(offer, fingerprint=fingerprint, confirm=confirm, replace=replace)


def trust_offer(
    offer: HostKeyOffer,
    *,
    fingerprint: str | None = None,
    confirm: Callable[[str], bool] | None = None,
    replace: bool = False,
) -> TrustResult:
    """Records `offer` when `fingerprint` matches it or `confirm(offer.text)` says yes.

    Raises HostKeyError when the fingerprint does not match or nobody
    confirmed, HostKeyChangedError when the key changed and `replace` was not
    given (with `replace`, only a matching fingerprint replaces it).
    """
    from tfstudio.fleet import hostkey_offer

    result = TrustResult(offer.device, offer.entry, offer.key_type, offer.fingerprint, "trusted")
    if offer.status == TRUSTED:
        return TrustResult(**{**result.to_json(), "status": "already_trusted"})
    changed = offer.status == CHANGED
    if changed and not replace:
        raise HostKeyChangedError(
            f"HOST KEY FOR {offer.entry} HAS CHANGED: POSSIBLE MAN-IN-THE-MIDDLE ATTACK; "
            f"nothing recorded (offered {offer.key_type} {offer.fingerprint}, "
            f"recorded {offer.recorded_fingerprint})",
            hint="if the device was really re-installed, verify the new fingerprint out "
            f"of band, then run: {hostkeys.trust_command(offer.device, offer.fingerprint)} "
            "--replace",
        )
    if fingerprint is not None:
        if fingerprint.strip() != offer.fingerprint:
            raise HostKeyError(
                f"{offer.device}: the host key of {offer.entry} is {offer.key_type} "
                f"{offer.fingerprint}, not {fingerprint.strip()}; nothing recorded",
                hint="check you are reaching the right device; it may be a man-in-the-middle",
            )
    elif changed or confirm is None or not confirm(offer.text):
        raise HostKeyError(
            f"{offer.device}: not trusted: host key of {offer.entry} is "
            f"{offer.key_type} {offer.fingerprint}",
            hint="verify it out of band, then run: "
            f"{hostkeys.trust_command(offer.device, offer.fingerprint)}",
        )
    hostkey_offer.record(offer, replace=replace)
    return result


@dataclass(frozen=True)
class Scanned:
    """One device's offered host key, or why it could not be read."""

    device: str
    offer: HostKeyOffer | None = None
    error: str | None = None


def scan_many(
    devices: list[Device], *, connect_timeout: float | None = None, workers: int = 8
) -> list[Scanned]:
    """Reads the host key every SSH device offers, at once; results in order (never raises
    for a device: an unreachable one carries its error)."""
    from tfstudio.errors import TfStudioError
    from tfstudio.fleet import fanout, hostkey_offer
    from tfstudio.operations import CancelToken

    def one(device: Device) -> Scanned:
        try:
            return Scanned(device.name, hostkey_offer.scan(device, connect_timeout=connect_timeout))
        except TfStudioError as exc:
            return Scanned(device.name, error=exc.message)

    ssh = [d for d in devices if d.kind != "local"]
    return fanout.run_all(
        ssh,
        lambda i, d: one(d),
        workers=max(1, min(workers, len(ssh))),
        cancel=CancelToken(),
        abandon=lambda i, d: Scanned(d.name, error=f"{d.name}: cancelled"),
        grace_s=0.0,
        name="scan",
    )
