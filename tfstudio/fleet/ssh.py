"""`SSHTransport`: the Transport over paramiko, with strict host keys.

Connects through an optional ProxyJump chain (`direct-tcpip` channels), checks
every hop's host key with `hostkeys.verify`, authenticates with key files
(asking `passphrase(path)` for encrypted ones) and then the ssh-agent. Files
are streamed over an exec channel into a tiny writer run by the device's
Python: it avoids SFTP's per-request round trips and is what gets paramiko to
scp's speed (see scripts/bench/bench_push.py). paramiko, socket and OS errors
are translated into TransportError / HostKeyError one-liners here.
"""

from __future__ import annotations

import contextlib
import select
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import paramiko

from tfstudio.errors import TfStudioError, TransportError
from tfstudio.fleet import hostkeys
from tfstudio.fleet.sshconfig import SSHTarget
from tfstudio.fleet.sshwire import PREFERRED_CIPHERS, dial, handshake, prefer, tunnel
from tfstudio.fleet.transport import (
    PUT_CHUNK,
    CommandResult,
    ProgressCallback,
    Transport,
    check_remote_path,
    command_line,
)

PassphraseCallback = Callable[[str], "str | None"]
"""Asked for the passphrase of an encrypted key file; returns None to skip the key."""

DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")
KEEPALIVE_S = 15

_WRITER = """import os, sys
p, o = sys.argv[1], int(sys.argv[2])
if os.path.dirname(p):
    os.makedirs(os.path.dirname(p), exist_ok=True)
f = os.fdopen(os.open(p, os.O_WRONLY | os.O_CREAT, 0o644), "wb")
f.seek(o)
f.truncate()
r = sys.stdin.buffer
while True:
    b = r.read(1048576)
    if not b:
        break
    f.write(b)
f.flush()
print(f.tell())
"""
"""Runs on the device: writes stdin into a file from an offset (creating its directory),
prints the final size.
No fsync: a partial torn by a crash fails the prefix hash of the next resume, and
the agent verifies the whole sha256 before it stores anything."""

_HASHER = """import hashlib, sys
h, n = hashlib.sha256(), int(sys.argv[2])
with open(sys.argv[1], "rb") as f:
    while n > 0:
        b = f.read(min(n, 1048576))
        if not b:
            break
        h.update(b)
        n -= len(b)
print(h.hexdigest())
"""


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
        command_timeout: float = 300.0,
    ) -> None:
        self.name = device or target.alias
        self.target = target
        self.python = python
        self.command_timeout = command_timeout
        self.bytes_sent = 0
        self._passphrase = passphrase
        self._allow_agent = allow_agent
        self._chain: list[paramiko.Transport] = []
        self._sftp: paramiko.SFTPClient | None = None
        self._closed = False
        try:
            self._connect()
        except BaseException:
            self.close()
            raise

    # -- connection -------------------------------------------------------

    def _connect(self) -> None:
        hops: list[SSHTarget] = []
        hop: SSHTarget | None = self.target
        while hop is not None:
            hops.insert(0, hop)
            hop = hop.jump
        sock: Any = None
        for hop in hops:
            if sock is None:
                sock = dial(hop, self.name)
            else:
                sock = tunnel(self._chain[-1], hop, self.name)
            trans = paramiko.Transport(sock)
            self._chain.append(trans)
            trans.banner_timeout = hop.connect_timeout
            trans.auth_timeout = hop.connect_timeout
            options = trans.get_security_options()
            options.ciphers = prefer(options.ciphers, PREFERRED_CIPHERS)
            known = hostkeys.load_known(hop.hostname, hop.port)
            if known.key_types:
                # Offer the recorded key type first, as OpenSSH does, so a
                # legitimate host never shows us a key type we have no record of.
                options.key_types = prefer(options.key_types, tuple(known.key_types))
            server_key = handshake(trans, hop, self.name)
            label = self.name if hop is self.target else hop.alias
            hostkeys.verify(
                hop.hostname, hop.port, server_key, label, jump_host=hop is not self.target
            )
            self._authenticate(trans, hop)
            trans.set_keepalive(KEEPALIVE_S)

    def _authenticate(self, trans: paramiko.Transport, hop: SSHTarget) -> None:
        tried: list[str] = []
        explicit = list(hop.identity_files)
        candidates = explicit or [str(Path.home() / ".ssh" / n) for n in DEFAULT_KEYS]
        for path in candidates:
            key = self._load_key(path, required=path in explicit)
            if key is None:
                continue
            tried.append(path)
            if self._try_key(trans, hop.user, key):
                return
        if self._allow_agent:
            with contextlib.suppress(paramiko.SSHException, OSError):
                for key in paramiko.Agent().get_keys():
                    tried.append("ssh-agent")
                    if self._try_key(trans, hop.user, key):
                        return
        what = ", ".join(dict.fromkeys(tried)) or "no key found"
        raise TransportError(
            f"{self.name}: authentication failed for {hop.user}@{hop.hostname}:{hop.port} "
            f"(tried: {what})",
            hint="check --user and --key, and that the public key is in the device's "
            "authorized_keys",
        )

    def _load_key(self, path: str, *, required: bool) -> paramiko.PKey | None:
        if not Path(path).is_file():
            if required:
                raise TransportError(f"{self.name}: key file {path} not found")
            return None
        try:
            return paramiko.PKey.from_path(path)
        except (paramiko.PasswordRequiredException, TypeError):
            # paramiko raises PasswordRequiredException for PEM keys; for OpenSSH-format
            # keys the cryptography loader underneath raises TypeError instead.
            secret = self._passphrase(path) if self._passphrase else None
            if secret is None:
                if required:
                    raise TransportError(
                        f"{self.name}: key {path} is encrypted and no passphrase was given",
                        hint="run in a terminal to be asked for it, or load it into ssh-agent",
                    ) from None
                return None
            try:
                return paramiko.PKey.from_path(path, password=secret.encode())  # type: ignore[arg-type]
            except (paramiko.SSHException, ValueError, TypeError) as exc:
                raise TransportError(f"{self.name}: wrong passphrase for key {path}") from exc
        except (paramiko.SSHException, OSError, ValueError) as exc:
            if required:
                raise TransportError(f"{self.name}: cannot load key {path}: {exc}") from exc
            return None

    @staticmethod
    def _try_key(trans: paramiko.Transport, user: str, key: paramiko.PKey) -> bool:
        try:
            trans.auth_publickey(user, key)
        except paramiko.AuthenticationException:
            return False
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError(f"authentication for {user} failed: {exc}") from exc
        return trans.is_authenticated()

    # -- commands ---------------------------------------------------------

    @property
    def _transport(self) -> paramiko.Transport:
        if self._closed or not self._chain or not self._chain[-1].is_active():
            raise TransportError(f"{self.name}: the SSH connection is closed")
        return self._chain[-1]

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except TfStudioError:
            raise
        except (paramiko.SSHException, OSError, EOFError) as exc:
            detail = str(exc) or type(exc).__name__
            raise TransportError(f"{self.name}: {what} failed: {detail}") from exc

    def run(
        self, argv: Sequence[str], timeout: float | None = None, stdin: bytes | None = None
    ) -> CommandResult:
        """Runs `argv` on the device (every word shlex-quoted). Raises TransportError."""
        line = command_line(argv)
        with self._errors(f"running {argv[0]}"):
            chan = self._transport.open_session(timeout=30)
            try:
                chan.exec_command(line)
                if stdin:
                    chan.sendall(stdin)
                chan.shutdown_write()
                return self._collect(chan, timeout or self.command_timeout, argv[0])
            finally:
                chan.close()

    def open_stream(self, argv: Sequence[str], timeout: float = 30) -> paramiko.Channel:
        """Returns a session channel running `argv` (words quoted), for a caller that
        streams both ways itself (e.g. `docker system dial-stdio` for the Docker SDK).

        The caller closes the channel. Raises TransportError.
        """
        with self._errors(f"running {argv[0]}"):
            chan = self._transport.open_session(timeout=timeout)
            chan.exec_command(command_line(argv))
            return chan

    def _collect(self, chan: paramiko.Channel, timeout: float, what: str) -> CommandResult:
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
            elif chan.closed or not self._transport.is_active():
                raise TransportError(f"{self.name}: connection lost while running {what}")
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TransportError(
                        f"{self.name}: {what} did not finish within {timeout:g}s",
                        hint="raise the timeout, or check the device's load",
                    )
                select.select([chan], [], [], min(remaining, 0.5))
        status = chan.recv_exit_status()
        if status == -1:
            # paramiko's "no exit status": the connection dropped, or the
            # command was killed by a signal on the device.
            raise TransportError(
                f"{self.name}: {what} ended without an exit status "
                "(killed on the device, or the connection was lost)"
            )
        return CommandResult(
            b"".join(out).decode("utf-8", "replace"),
            b"".join(err).decode("utf-8", "replace"),
            status,
        )

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
        check_remote_path(remote)
        total = local.stat().st_size
        line = command_line([self.python, "-c", _WRITER, remote, str(offset)])
        start_count = self.bytes_sent
        sent = 0
        with self._errors(f"sending {local.name}"):
            chan = self._transport.open_session(timeout=30)
            try:
                chan.exec_command(line)
                try:
                    sent = self._stream(chan, local, offset, total, progress)
                    chan.shutdown_write()
                    result = self._collect(chan, self.command_timeout, "the file writer")
                except (OSError, EOFError, paramiko.SSHException, TransportError) as exc:
                    # A closed channel also reports "exit status ready": only an
                    # exit status the device actually sent (not paramiko's -1)
                    # on a live connection means the writer died. The link can
                    # drop while streaming or just after the last byte.
                    alive = not self._closed and self._chain[-1].is_active()
                    if isinstance(exc, TransportError) and alive:
                        raise  # the writer's own failure or timeout, already worded
                    if not alive or not chan.status_event.is_set() or chan.exit_status == -1:
                        how = "closed" if self._closed else "lost"
                        raise TransportError(
                            f"{self.name}: connection {how} while sending {local.name} "
                            f"({self.bytes_sent - start_count} bytes sent)",
                            hint="the next deploy resumes from what arrived",
                        ) from None
                    # The writer died mid-stream (disk full, no permission): its
                    # stderr says why, which beats "Socket is closed".
                    result = CommandResult("", _drain_stderr(chan), chan.recv_exit_status())
            finally:
                chan.close()
        if not result.ok or result.stdout.strip() != str(total):
            detail = (result.stderr.strip().splitlines() or [result.stdout.strip()])[-1:]
            raise TransportError(
                f"{self.name}: writing {remote} failed: {' '.join(detail) or 'size mismatch'}",
                hint="check disk space and permissions on the device",
            )
        return sent

    def _stream(
        self,
        chan: paramiko.Channel,
        local: Path,
        offset: int,
        total: int,
        progress: ProgressCallback | None,
    ) -> int:
        sent = 0
        with open(local, "rb") as handle:
            handle.seek(offset)
            while True:
                block = handle.read(PUT_CHUNK)
                if not block:
                    return sent
                _send_block(chan, block)
                sent += len(block)
                self.bytes_sent += len(block)
                if progress:
                    progress(offset + sent, total)

    def _sftp_client(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            with self._errors("opening SFTP"):
                self._sftp = paramiko.SFTPClient.from_transport(self._transport)
            if self._sftp is None:
                raise TransportError(f"{self.name}: the device refused an SFTP session")
        return self._sftp

    def get(self, remote: str, local: Path) -> None:
        """Copies `remote` into `local`. Raises TransportError."""
        with self._errors(f"fetching {remote}"):
            self._sftp_client().get(check_remote_path(remote), str(local))

    def stat_size(self, remote: str) -> int | None:
        """Returns the size of `remote` or None when absent."""
        with self._errors(f"checking {remote}"):
            try:
                size = self._sftp_client().stat(check_remote_path(remote)).st_size
            except FileNotFoundError:
                return None
        return int(size or 0)

    def sha256_prefix(self, remote: str, length: int) -> str:
        """Returns the sha256 of the first `length` bytes of `remote`, hashed on the device."""
        result = self.run([self.python, "-c", _HASHER, check_remote_path(remote), str(length)])
        if not result.ok:
            raise TransportError(f"{self.name}: cannot hash {remote}: {result.stderr.strip()}")
        return result.stdout.strip()

    def makedirs(self, remote: str) -> None:
        """Creates `remote` and its parents on the device."""
        sftp = self._sftp_client()
        parts = check_remote_path(remote).split("/")
        current = "/" if remote.startswith("/") else ""
        with self._errors(f"creating {remote}"):
            for part in parts:
                if not part:
                    continue
                current = f"{current}{part}" if current in ("", "/") else f"{current}/{part}"
                try:
                    sftp.stat(current)
                except FileNotFoundError:
                    sftp.mkdir(current)

    def rename(self, src: str, dst: str) -> None:
        """Renames `src` onto `dst` (POSIX semantics, replacing `dst`)."""
        with self._errors(f"renaming {src}"):
            self._sftp_client().posix_rename(check_remote_path(src), check_remote_path(dst))

    def remove(self, remote: str) -> None:
        """Removes `remote` if present."""
        with self._errors(f"removing {remote}"), contextlib.suppress(FileNotFoundError):
            self._sftp_client().remove(check_remote_path(remote))

    def close(self) -> None:
        """Closes the SFTP session and every hop, innermost first."""
        self._closed = True
        if self._sftp is not None:
            with contextlib.suppress(Exception):
                self._sftp.close()
            self._sftp = None
        for trans in reversed(self._chain):
            with contextlib.suppress(Exception):
                trans.close()


def _drain_stderr(chan: paramiko.Channel) -> str:
    chunks = []
    while chan.recv_stderr_ready():
        chunks.append(chan.recv_stderr(1 << 16))
    return b"".join(chunks).decode("utf-8", "replace")


def _send_block(chan: paramiko.Channel, block: bytes) -> None:
    # Channel.sendall re-slices the remaining bytes after every packet, which is
    # quadratic in the block size (a third of the CPU of a 200 MB push). Handing
    # it packet-sized pieces keeps each copy small.
    # paramiko keeps 64 bytes of each packet for headers.
    step = max(1024, int(chan.out_max_packet_size or 32768) - 64)
    view = memoryview(block)
    for start in range(0, len(block), step):
        chan.sendall(bytes(view[start : start + step]))


def scan_host_key(target: SSHTarget, device: str) -> paramiko.PKey:
    """Returns the host key `target` offers, without authenticating to it.

    Jump hosts on the way must already be trusted. Raises TransportError /
    HostKeyError.
    """
    jump = SSHTransport(target.jump, device=target.jump.alias) if target.jump else None
    try:
        if jump is not None:
            sock: Any = tunnel(jump._transport, target, device)
        else:
            sock = dial(target, device)
        trans = paramiko.Transport(sock)
        trans.banner_timeout = target.connect_timeout
        try:
            return handshake(trans, target, device)
        finally:
            trans.close()
    finally:
        if jump is not None:
            jump.close()
