"""The wire below an SSH session: TCP dial, algorithm preferences, key exchange.

Each step turns socket and paramiko failures into one-line TransportErrors that
name the device and the address, so `SSHTransport` and `scan_host_key` share
the same messages.
"""

from __future__ import annotations

import os
import shlex
import socket
from collections.abc import Sequence
from typing import Any

import paramiko

from tfstudio.errors import TransportError
from tfstudio.transport.sshconfig import SSHTarget

PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr")
"""AES-GCM first: it needs no separate HMAC pass, the biggest CPU cost of a push."""


FAMILIES = {"inet": socket.AF_INET, "inet6": socket.AF_INET6}
"""AddressFamily values; `any` lets the resolver choose."""


def dial(hop: SSHTarget, name: str, *, role: str | None = None) -> Any:
    """Returns a connected socket to `hop` (or its ProxyCommand, run as ssh runs it);
    raises TransportError with a one-line reason.

    `role` names the hop when it is not the device itself (e.g. "jump host
    bastion"), so that a failure says which machine refused.
    """
    if hop.proxy_command:
        return _proxy(hop, name)
    where = f"{hop.hostname}:{hop.port}"
    jump = role is not None and role != name
    if jump:
        where = f"{role} ({where})"
    machine = "the jump host" if jump else "the device"
    try:
        return _connect(hop)
    except socket.gaierror as exc:
        raise TransportError(
            f"{name}: cannot resolve host {hop.hostname!r}" + (f" of {role}" if jump else ""),
            hint="check --host or the HostName in your ssh config",
        ) from exc
    except (TimeoutError, socket.timeout) as exc:
        raise TransportError(
            f"{name}: connecting to {where} timed out after {hop.connect_timeout:g}s",
            hint=f"is {machine} on and reachable?",
        ) from exc
    except ConnectionRefusedError as exc:
        raise TransportError(
            f"{name}: connection refused by {where}", hint=f"is sshd running on {machine}?"
        ) from exc
    except ConnectionResetError as exc:
        raise TransportError(
            f"{name}: {where} reset the connection before the SSH handshake",
            hint="is it an SSH server? check --host and --port",
        ) from exc
    except OSError as exc:
        raise TransportError(f"{name}: cannot connect to {where}: {exc.strerror or exc}") from exc


def _connect(hop: SSHTarget) -> socket.socket:
    family = FAMILIES.get(hop.address_family, socket.AF_UNSPEC)
    if family == socket.AF_UNSPEC and not hop.bind_address:
        return socket.create_connection((hop.hostname, hop.port), timeout=hop.connect_timeout)
    error: OSError | None = None
    for af, kind, proto, _, address in socket.getaddrinfo(
        hop.hostname, hop.port, family, socket.SOCK_STREAM
    ):
        sock = socket.socket(af, kind, proto)
        try:
            sock.settimeout(hop.connect_timeout)
            if hop.bind_address:
                sock.bind((hop.bind_address, 0))
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"no address of {hop.hostname} for AddressFamily {hop.address_family}")


def _proxy(hop: SSHTarget, name: str) -> Any:
    """Runs the hop's ProxyCommand through the user's shell, as ssh does (`exec` so the
    command itself is what paramiko talks to and kills)."""
    command = hop.proxy_command or ""
    shell = os.environ.get("SHELL") or "/bin/sh"
    try:
        return paramiko.ProxyCommand(f"{shlex.quote(shell)} -c {shlex.quote('exec ' + command)}")
    except (paramiko.SSHException, OSError) as exc:
        raise TransportError(f"{name}: cannot start ProxyCommand {command!r}: {exc}") from exc


def direct_tcpip(via: paramiko.Transport, host: str, port: int, timeout: float) -> paramiko.Channel:
    """Returns a `direct-tcpip` channel: a TCP connection that `via`'s server makes to
    `host:port` on our behalf (a jump to the next hop, or the device's own loopback).

    Raises paramiko.SSHException (e.g. "Connect failed": nothing listens there)."""
    return via.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=timeout)


def tunnel(via: paramiko.Transport, hop: SSHTarget, name: str) -> paramiko.Channel:
    """Returns a `direct-tcpip` channel through the jump connection `via` to `hop`.

    Raises TransportError when the jump host cannot (or will not) reach it.
    """
    try:
        return direct_tcpip(via, hop.hostname, hop.port, hop.connect_timeout)
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise TransportError(
            f"{name}: jump host {via.getpeername()[0]} could not reach "
            f"{hop.hostname}:{hop.port}: {exc or 'refused'}"
        ) from exc


def handshake(trans: paramiko.Transport, hop: SSHTarget, name: str) -> paramiko.PKey:
    """Runs the key exchange on `trans` and returns the server's host key.

    Raises TransportError when it fails or does not finish within the hop's
    connect timeout (paramiko's start_client returns silently on a timeout).
    """
    where = f"{hop.hostname}:{hop.port}"
    hint = "is it an SSH server? check --host and --port"
    if hop.proxy_command:
        where = f"{where} through ProxyCommand {hop.proxy_command!r}"
        hint = "run the ProxyCommand by hand to see why it ends"
    try:
        trans.start_client(timeout=hop.connect_timeout)
        if trans.is_active() and trans.host_key is not None:
            return trans.get_remote_server_key()
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise TransportError(
            f"{name}: SSH handshake with {where} failed: {exc or 'connection closed'}", hint=hint
        ) from exc
    raise TransportError(
        f"{name}: SSH handshake with {where} did not finish within {hop.connect_timeout:g}s",
        hint=hint,
    )


def prefer(available: Sequence[str], first: Sequence[str]) -> tuple[str, ...]:
    """Returns `available` reordered so that the names in `first` come first."""
    head = [name for name in first if name in available]
    return tuple(head + [name for name in available if name not in head])


def first(available: Sequence[str], wanted: Sequence[str]) -> tuple[str, ...]:
    """Returns `wanted`, then the rest of `available`: host key algorithms, where the
    wanted ones (certificate types) may be ones paramiko does not list by default."""
    return tuple(dict.fromkeys([*wanted, *available]))
