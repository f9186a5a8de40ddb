"""Host keys of ssh:// engines, in the same trust store as devices.

Two calls, so that a confirm dialog can sit between them: `scan_engine_key`
returns what the host offers (its fingerprint) without recording anything;
`trust_engine` records it when the fingerprint matches. Both reuse the fleet's
trust code (`tfstudio.fleet.trust`, `tfstudio.transport.hostkeys`): there is one
known_hosts for devices and engines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tfstudio.errors import HostKeyError
from tfstudio.training.dialstdio import engine_host_key_error, resolve_target
from tfstudio.training.engines import Engine
from tfstudio.training.errors import EngineError


@dataclass(frozen=True)
class HostKeyOffer:
    """The host key an engine's SSH server offers."""

    engine: str
    entry: str
    key_type: str
    fingerprint: str
    known: bool
    """True when this key is already trusted."""

    def to_json(self) -> dict[str, Any]:
        """Returns the fields as a dict."""
        return dict(self.__dict__)


def scan_engine_key(engine: Engine) -> HostKeyOffer:
    """Returns the engine host's key and whether it is trusted; records nothing.

    Raises EngineError (not ssh://), TransportError, HostKeyError (a changed
    key), ConfigError.
    """
    from tfstudio.transport import hostkeys
    from tfstudio.transport.ssh import scan_host_key

    _require_ssh(engine)
    target = resolve_target(engine)
    key = scan_host_key(target, engine.name)
    entry = hostkeys.host_entry(target.hostname, target.port)
    fp = hostkeys.fingerprint(key)
    try:
        hostkeys.verify(target.hostname, target.port, key, engine.name)
        known = True
    except HostKeyError as exc:
        if "CHANGED" in exc.message:
            raise engine_host_key_error(exc, engine.name) from exc
        known = False
    return HostKeyOffer(engine.name, entry, key.get_name(), fp, known)


def trust_engine(
    engine: Engine,
    *,
    fingerprint: str | None = None,
    confirm: Callable[[str], bool] | None = None,
    replace: bool = False,
) -> Any:
    """Records the engine host's key when `fingerprint` matches it (or `confirm` says yes).

    Returns the fleet's TrustResult (status trusted or already_trusted).
    Raises HostKeyError (mismatch, not confirmed, changed without `replace`),
    TransportError, EngineError.
    """
    from tfstudio.fleet.registry import Device
    from tfstudio.fleet.trust import trust_device

    _require_ssh(engine)
    user, host, port = engine.ssh_parts()
    as_device = Device(
        name=engine.name, host=host, port=port, user=user, ssh_config=engine.ssh_config
    )
    try:
        return trust_device(as_device, fingerprint=fingerprint, confirm=confirm, replace=replace)
    except HostKeyError as exc:
        raise engine_host_key_error(exc, engine.name) from exc


def _require_ssh(engine: Engine) -> None:
    if engine.scheme != "ssh":
        raise EngineError(
            f"engine {engine.name} is {engine.scheme}://, not reached over SSH: "
            "there is no host key to trust"
        )
