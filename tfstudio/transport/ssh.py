"""`SSHTransport`: the Transport over paramiko, with strict host keys.

Connects through an optional ProxyJump chain (`direct-tcpip` channels), checks
every hop's host key with `hostkeys.verify`, authenticates with key files
(asking `passphrase(path)` for encrypted ones) and then the ssh-agent. Every
call on the connection has a deadline: the connect timeout, each command's
timeout, and the watchdog (`sshguard`) that ends a call after `stall_timeout`
seconds without progress on a connection that no longer answers. Files go
through `sshfiles`. paramiko, socket and OS errors are translated into
TransportError / HostKeyError one-liners here, and paramiko's own log goes to
a file (`sshlog`), never the terminal.
"""

from __future__ import annotations

import contextlib
import os
import select
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import paramiko

from tfstudio.errors import CancelledError, TfStudioError, TransportError
from tfstudio.operations import CancelToken
from tfstudio.transport import hostkeys, sshfiles, sshlog
from tfstudio.transport.base import (
    CommandResult,
    ProgressCallback,
    RemoteProcess,
    Transport,
    command_line,
    read_line,
)
from tfstudio.transport.sshauth import PassphraseCallback, authenticate
from tfstudio.transport.sshconfig import SSHTarget
from tfstudio.transport.sshguard import Watchdog
from tfstudio.transport.sshwire import (
    PREFERRED_CIPHERS,
    dial,
    direct_tcpip,
    first,
    handshake,
    prefer,
    tunnel,
)

KEEPALIVE_S = 15

DEFAULT_STALL_S = 30.0
"""Seconds without progress, on a connection that does not answer, before a call fails."""


class SSHTransport(Transport):
    """A verified, authenticated SSH connection to one device."""

    def __init__(
        self,
        target: SSHTarget,
        *,
        device: str | None = None,
        python: str = "python3",
        passphrase: PassphraseCallback | None = None,
        allow_agent: bool = True,
        command_timeout: float = 120.0,
        stall_timeout: float = DEFAULT_STALL_S,
    ) -> None:
        sshlog.route_paramiko_logs()
        self.name = device or target.alias
        self.target = target
        self.python = python
        self.command_timeout = command_timeout
        self.stall_timeout = stall_timeout
        self.bytes_sent = 0
        self._passphrase = passphrase
        self._allow_agent = allow_agent
        self._chain: list[paramiko.Transport] = []
        self._sftp: paramiko.SFTPClient | None = None
        self._closed = False
        self._watchdog: Watchdog | None = None
        try:
            self._connect()
        except BaseException:
            self.close()
            raise
        self._watchdog = Watchdog(
            self.name, stall_timeout, probe=self._answers, on_stall=self._abandon
        )

    # -- connection -------------------------------------------------------

    def _connect(self) -> None:
        hops: list[SSHTarget] = []
        hop: SSHTarget | None = self.target
        while hop is not None:
            hops.insert(0, hop)
            hop = hop.jump
        sock: Any = None
        for hop in hops:
            role = self.name if hop is self.target else f"jump host {hop.alias}"
            if sock is None:
                sock = dial(hop, self.name, role=role)
            else:
                sock = tunnel(self._chain[-1], hop, self.name)
            trans = paramiko.Transport(sock)
            self._chain.append(trans)
            trans.banner_timeout = hop.connect_timeout
            trans.auth_timeout = hop.connect_timeout
            options = trans.get_security_options()
            options.ciphers = prefer(options.ciphers, PREFERRED_CIPHERS)
            files = hostkeys.known_files(hop.known_hosts)
            known = hostkeys.load_known(hop.hostname, hop.port, files, alias=hop.host_key_alias)
            # Offer the recorded key types first, as OpenSSH does, so a legitimate host
            # never shows us a key type we have no record of.
            options.key_types = first(options.key_types, hostkeys.preferred_key_types(known))
            server_key = handshake(trans, hop, self.name)
            label = self.name if hop is self.target else hop.alias
            hostkeys.verify(
                hop.hostname,
                hop.port,
                server_key,
                label,
                jump_host=hop is not self.target,
                alias=hop.host_key_alias,
                files=files,
            )
            authenticate(trans, hop, self.name, self._passphrase)
            trans.set_keepalive(KEEPALIVE_S)

    # -- deadlines ----------------------------------------------------------

    def _answers(self, wait: float) -> bool:
        """True when the device's sshd still answers on this connection (the watchdog's probe)."""
        try:
            chan = self._chain[-1].open_session(timeout=wait)
        except (paramiko.SSHException, OSError, EOFError, IndexError):
            return False
        chan.close()
        return True

    def _abandon(self, why: str) -> None:
        """Closes the connection under a stuck call (from the watchdog's thread)."""
        for trans in reversed(self._chain):
            with contextlib.suppress(Exception):
                trans.close()

    def _guard(self, what: str, *, probe: bool) -> contextlib.AbstractContextManager[None]:
        if self._watchdog is None:
            return contextlib.nullcontext()
        return self._watchdog.watch(what, probe=probe)

    def _alive(self) -> bool:
        return not self._closed and bool(self._chain) and self._chain[-1].is_active()

    def _lost(self, what: str) -> TransportError:
        """Returns the error for a connection that went away during `what`."""
        stalled = self._watchdog.stalled if self._watchdog is not None else None
        if stalled:
            return TransportError(
                f"{self.name}: {stalled}: the device stopped answering",
                hint="check the device and its link; the next deploy resumes what was sent",
            )
        how = "closed" if self._closed else "lost"
        return TransportError(f"{self.name}: connection {how} while {what}")

    # -- commands ---------------------------------------------------------

    @property
    def _transport(self) -> paramiko.Transport:
        if not self._alive():
            raise self._lost("starting a request")
        return self._chain[-1]

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except TfStudioError:
            raise
        except (paramiko.SSHException, OSError, EOFError) as exc:
            if not self._alive() or self._dies_soon():
                raise self._lost(what) from exc
            detail = str(exc) or type(exc).__name__
            raise TransportError(f"{self.name}: {what} failed: {detail}") from exc

    def _dies_soon(self, within: float = 0.5) -> bool:
        """True when the connection goes down within `within` seconds.

        A killed sshd closes the channel first: the EOF reaches the writer a few
        ms before paramiko's reader thread marks the transport inactive, and
        that error is a lost connection, not a failed command.
        """
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not self._alive():
                return True
            time.sleep(0.02)
        return not self._alive()

    def run(
        self,
        argv: Sequence[str],
        timeout: float | None = None,
        stdin: bytes | None = None,
        cancel: CancelToken | None = None,
        label: str | None = None,
    ) -> CommandResult:
        """Runs `argv` on the device (every word shlex-quoted).

        Raises TransportError (connection lost, stalled, or past `timeout`),
        CancelledError when `cancel` is set while it waits.
        """
        line = command_line(argv)
        what = label or f"running {os.path.basename(str(argv[0]))}"
        with self._errors(what), self._guard(what, probe=True):
            chan = self._transport.open_session(timeout=self.command_timeout)
            try:
                chan.exec_command(line)
                if stdin:
                    chan.sendall(stdin)
                chan.shutdown_write()
                return self._collect(chan, timeout or self.command_timeout, what, cancel)
            finally:
                chan.close()

    def _collect(
        self,
        chan: paramiko.Channel,
        timeout: float,
        what: str,
        cancel: CancelToken | None = None,
    ) -> CommandResult:
        out: list[bytes] = []
        err: list[bytes] = []
        deadline = time.monotonic() + timeout
        while True:
            if chan.recv_ready():
                out.append(chan.recv(1 << 16))
            elif chan.recv_stderr_ready():
                err.append(chan.recv_stderr(1 << 16))
            elif chan.exit_status_ready() and not chan.recv_ready():
                break
            elif chan.closed or not self._alive():
                raise self._lost(what)
            elif cancel is not None and cancel.is_set():
                raise CancelledError(f"{self.name}: cancelled while {what}")
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TransportError(
                        f"{self.name}: {what} did not finish within {timeout:g}s",
                        hint="raise the timeout, or check the device's load",
                    )
                select.select([chan], [], [], min(remaining, 0.2))
        status = chan.recv_exit_status()
        if status == -1:
            # paramiko's "no exit status": the connection dropped, or the
            # command was killed by a signal on the device.
            if not self._alive():
                raise self._lost(what)
            raise TransportError(
                f"{self.name}: {what} ended without an exit status "
                "(killed on the device, or the connection was lost)"
            )
        return CommandResult(
            b"".join(out).decode("utf-8", "replace"),
            b"".join(err).decode("utf-8", "replace"),
            status,
        )

    def open_stream(self, argv: Sequence[str], timeout: float = 30) -> paramiko.Channel:
        """Returns a session channel running `argv` (words quoted), for a caller that
        streams both ways itself (e.g. `docker system dial-stdio` for the Docker SDK).

        The caller closes the channel; the watchdog guards only its opening.
        Raises TransportError.
        """
        what = f"running {argv[0]}"
        with self._errors(what), self._guard(what, probe=True):
            chan = self._transport.open_session(timeout=timeout)
            chan.exec_command(command_line(argv))
            return chan

    def open_forward(
        self, port: int, host: str = "127.0.0.1", timeout: float = 30
    ) -> paramiko.Channel:
        """Returns a `direct-tcpip` channel to `host:port` as seen from the device (its
        loopback by default): a socket-like stream through this connection, so a
        service bound to the device's 127.0.0.1 is reachable without opening a port.

        The caller closes it; the watchdog guards only its opening. Raises
        TransportError ("... refused" when nothing listens there).
        """
        what = f"opening a tunnel to {host}:{port} on the device"
        with self._errors(what), self._guard(what, probe=True):
            try:
                return direct_tcpip(self._transport, host, port, timeout)
            except paramiko.ChannelException as exc:
                raise TransportError(
                    f"{self.name}: nothing accepts connections on {host}:{port} of the device "
                    f"({exc.text or 'refused'})"
                ) from exc

    def spawn(self, argv: Sequence[str]) -> RemoteProcess:
        """Starts `argv` on the device and returns it running. Raises TransportError."""
        what = f"starting {os.path.basename(str(argv[0]))}"
        with self._errors(what), self._guard(what, probe=True):
            chan = self._transport.open_session(timeout=self.command_timeout)
            chan.exec_command(command_line(argv))
        return _SSHProcess(self, chan)

    # -- files ------------------------------------------------------------

    def put(
        self,
        local: Path,
        remote: str,
        *,
        offset: int = 0,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Streams `local[offset:]` into `remote`; returns bytes sent. Raises TransportError."""
        return sshfiles.put(self, local, remote, offset=offset, progress=progress)

    def get(self, remote: str, local: Path) -> None:
        """Copies `remote` into `local`. Raises TransportError."""
        sshfiles.get(self, remote, local)

    def stat_size(self, remote: str) -> int | None:
        """Returns the size of `remote` or None when absent."""
        return sshfiles.stat_size(self, remote)

    def sha256_prefix(self, remote: str, length: int) -> str:
        """Returns the sha256 of the first `length` bytes of `remote`, hashed on the device."""
        return sshfiles.sha256_prefix(self, remote, length)

    def makedirs(self, remote: str) -> None:
        """Creates `remote` and its parents on the device."""
        sshfiles.makedirs(self, remote)

    def rename(self, src: str, dst: str) -> None:
        """Renames `src` onto `dst` (POSIX semantics, replacing `dst`)."""
        sshfiles.rename(self, src, dst)

    def remove(self, remote: str) -> None:
        """Removes `remote` if present."""
        sshfiles.remove(self, remote)

    def close(self) -> None:
        """Closes the SFTP session and every hop, innermost first."""
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.stop()
        if self._sftp is not None:
            with contextlib.suppress(Exception):
                self._sftp.close()
            self._sftp = None
        for trans in reversed(self._chain):
            with contextlib.suppress(Exception):
                trans.close()


class _SSHProcess(RemoteProcess):
    """A command left running on an exec channel of an `SSHTransport`."""

    def __init__(self, conn: SSHTransport, chan: paramiko.Channel) -> None:
        self._conn = conn
        self._chan = chan
        self._buffer = bytearray()
        self._err: list[bytes] = []
        self._label = "waiting for the device"

    def _chunk(self, wait: float) -> bytes | None:
        chan = self._chan
        while chan.recv_stderr_ready():
            self._err.append(chan.recv_stderr(1 << 16))
        if chan.recv_ready():
            return bytes(chan.recv(1 << 16))
        if chan.exit_status_ready() or chan.closed:
            return b""
        if not self._conn._alive():
            raise self._conn._lost(self._label)
        select.select([chan], [], [], wait)
        return None

    def read_line(
        self, timeout: float, cancel: CancelToken | None = None, label: str | None = None
    ) -> str:
        """Returns its next stdout line ("" once it ended). Raises TransportError."""
        self._label = label or "waiting for the device"
        what = f"{self._conn.name}: {self._label}"
        with self._conn._errors(self._label), self._conn._guard(self._label, probe=True):
            return read_line(self._buffer, self._chunk, timeout, cancel, what)

    def stderr_text(self) -> str:
        """Returns its stderr so far."""
        with contextlib.suppress(Exception):
            while self._chan.recv_stderr_ready():
                self._err.append(self._chan.recv_stderr(1 << 16))
        return b"".join(self._err).decode("utf-8", "replace")

    def write(self, data: bytes) -> None:
        """Writes `data` to its stdin. Raises TransportError."""
        with self._conn._errors("talking to the agent"):
            with self._conn._guard("talking to the agent", probe=False):
                for piece in sshfiles._packets(self._chan, data):
                    self._chan.sendall(piece)

    def send_file(
        self, local: Path, offset: int, length: int, progress: ProgressCallback | None = None
    ) -> None:
        """Streams `length` bytes of `local` from `offset` into its stdin (see Transport)."""
        what = f"sending {local.name}"
        with self._conn._errors(what), self._conn._guard(what, probe=False):
            sshfiles.stream_exact(self._conn, self._chan, local, offset, length, progress)

    def exit_code(self, wait: float = 0.0) -> int | None:
        """Returns its exit status once the device sent it (-1: none came), else None."""
        if not self._chan.status_event.wait(wait):
            return None
        return int(self._chan.exit_status)

    def close(self) -> None:
        """Closes its stdin (EOF on the device) and the channel."""
        with contextlib.suppress(Exception):
            if self._conn._alive():
                self._chan.shutdown_write()
        with contextlib.suppress(Exception):
            self._chan.close()


def scan_host_key(target: SSHTarget, device: str) -> paramiko.PKey:
    """Returns the host key `target` offers, without authenticating to it.

    Jump hosts on the way must already be trusted. Raises TransportError /
    HostKeyError.
    """
    sshlog.route_paramiko_logs()
    jump = SSHTransport(target.jump, device=target.jump.alias) if target.jump else None
    try:
        if jump is not None:
            sock: Any = tunnel(jump._transport, target, device)
        else:
            sock = dial(target, device)
        trans = paramiko.Transport(sock)
        trans.banner_timeout = target.connect_timeout
        files = hostkeys.known_files(target.known_hosts)
        known = hostkeys.load_known(
            target.hostname, target.port, files, alias=target.host_key_alias
        )
        options = trans.get_security_options()
        options.key_types = first(options.key_types, hostkeys.preferred_key_types(known))
        try:
            return handshake(trans, target, device)
        finally:
            trans.close()
    finally:
        if jump is not None:
            jump.close()
