"""Open the right Transport for a registered device."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tfstudio.fleet.registry import LOCAL, Device
from tfstudio.transport.base import Transport


def open_transport(
    device: Device,
    *,
    passphrase: Callable[[str], str | None] | None = None,
    connect_timeout: float | None = None,
    command_timeout: float = 120.0,
    stall_timeout: float = 30.0,
) -> Transport:
    """Returns a connected Transport to `device`.

    `connect_timeout` bounds the connection (TCP, SSH handshake, auth),
    `command_timeout` each command, `stall_timeout` any call on a connection
    that stopped answering. Raises TransportError / HostKeyError when the
    connection cannot be made, DeviceError for an invalid registry entry.
    """
    from tfstudio.fleet.registry import check_device

    device = check_device(device)
    if device.kind == LOCAL:
        from tfstudio.transport.local import LocalTransport

        return LocalTransport(Path(device.agent_home), command_timeout=command_timeout)
    from tfstudio.transport import sshconfig
    from tfstudio.transport.ssh import SSHTransport

    assert device.host is not None  # add_device guarantees it
    target = sshconfig.resolve(
        device.host,
        port=device.port,
        user=device.user,
        key=device.key,
        connect_timeout=connect_timeout,
        config_path=Path(device.ssh_config) if device.ssh_config else None,
    )
    return SSHTransport(
        target,
        device=device.name,
        python=device.python,
        passphrase=passphrase,
        command_timeout=command_timeout,
        stall_timeout=stall_timeout,
    )
