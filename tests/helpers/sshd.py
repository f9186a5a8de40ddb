"""Real OpenSSH servers on 127.0.0.1 for tests and benchmarks.

`SshdFactory` makes one client key (authorised on every server it starts),
starts `/usr/sbin/sshd -D` processes on free loopback ports, each with its own
ed25519 host key, config and PidFile, and creates key-only device users
(`useradd -m -p '*'`). Everything lives in a world-readable directory so that
the device users can read the authorized_keys file; `close()` stops every
server and removes every user it created.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    """Returns a loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def keygen(path: Path, comment: str = "tfstudio-test", passphrase: str = "") -> Path:
    """Writes an ed25519 key pair at `path` (+ `.pub`) and returns `path`."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", comment, "-f", str(path)],
        check=True,
    )
    return path


def fingerprint(pub_path: Path) -> str:
    """Returns the `SHA256:...` fingerprint of a public key file."""
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(pub_path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()[1]


@dataclass
class SshdServer:
    """One running sshd: its port, host key and process."""

    name: str
    port: int
    directory: Path
    config: Path
    host_key: Path
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.directory / "sshd.log"

    @property
    def host_fingerprint(self) -> str:
        """SHA256 fingerprint of the current host key."""
        return fingerprint(self.host_key.with_suffix(".pub"))

    @property
    def host_pub_line(self) -> str:
        """The public host key as `type base64`."""
        parts = self.host_key.with_suffix(".pub").read_text().split()
        return f"{parts[0]} {parts[1]}"

    def start(self) -> None:
        """Starts sshd and waits until the port accepts connections."""
        log = open(self.log, "ab")  # noqa: SIM115 - kept open for the child
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.config)], stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd {self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd {self.name} did not start on port {self.port}")

    def stop(self) -> None:
        """Stops the listening sshd (sessions it already forked are left alone)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def regenerate_host_key(self) -> None:
        """Replaces the host key with a new one and restarts (a 'changed key' device)."""
        self.stop()
        self.host_key.unlink()
        self.host_key.with_suffix(".pub").unlink()
        keygen(self.host_key, "host")
        self.start()


class SshdFactory:
    """Starts sshd servers and device users; `close()` undoes everything."""

    def __init__(self, prefix: str = "tfsd") -> None:
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="tfstudio-sshd-"))
        self.root.chmod(0o755)
        self.prefix = f"{prefix}{os.getpid() % 100000}"
        self.client_key = keygen(self.root / "client_ed25519", "client")
        self.client_key.chmod(0o600)
        self.authorized_keys = self.root / "authorized_keys"
        shutil.copy(self.client_key.with_suffix(".pub"), self.authorized_keys)
        self.authorized_keys.chmod(0o644)
        self.servers: list[SshdServer] = []
        self.users: list[str] = []

    def start(self, name: str, extra_config: str = "") -> SshdServer:
        """Starts one sshd named `name` on a free port and returns it."""
        directory = self.root / name
        directory.mkdir()
        directory.chmod(0o755)
        host_key = keygen(directory / "host_ed25519", "host")
        port = free_port()
        config = directory / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    # sshd keeps the first value it reads: extra options go first.
                    extra_config,
                    "ListenAddress 127.0.0.1",
                    f"Port {port}",
                    f"HostKey {host_key}",
                    f"PidFile {directory / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.authorized_keys}",
                    "StrictModes no",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    "AllowTcpForwarding yes",
                    "MaxStartups 200",
                    "MaxSessions 100",
                    "LogLevel ERROR",
                    "Subsystem sftp internal-sftp",
                    "",
                ]
            )
        )
        server = SshdServer(name, port, directory, config, host_key)
        server.start()
        self.servers.append(server)
        return server

    def make_user(self, tag: str) -> str:
        """Creates a key-only user (unique per session) and returns its name."""
        name = f"{self.prefix}{tag}"[:32]
        subprocess.run(["useradd", "-m", "-p", "*", "-s", "/bin/sh", name], check=True)
        self.users.append(name)
        return name

    def close(self) -> None:
        """Stops every server, ends what the device users left running (agents' warm
        runtimes), deletes every user and the directory."""
        for server in self.servers:
            server.stop()
        for user in self.users:
            end_processes_of(user)
            subprocess.run(["userdel", "-r", "-f", user], check=False, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def end_processes_of(user: str) -> None:
    """Kills (by pid) every process of device user `user`: its agents' warm runtimes wait
    minutes for the next deploy, which a finished test session will not send."""
    import pwd
    import signal

    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        return
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            owner = entry.stat().st_uid
        except OSError:
            continue
        if owner == uid:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                pass


def _cmdlines() -> Iterator[tuple[int, str]]:
    """Yields (pid, command line) of every process that can be read."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        yield int(entry.name), cmdline


def sshd_session_serving(marker: str) -> int | None:
    """Returns the pid of the sshd process serving the session whose command line
    contains `marker` (walking up from that command to its sshd parent), or None."""
    proc = Path("/proc")
    for pid, cmdline in _cmdlines():
        if marker not in cmdline or "sshd" in cmdline.split(" ")[0]:
            continue
        for _ in range(8):
            try:
                stat = (proc / str(pid) / "stat").read_text()
            except OSError:
                break
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            if comm == "sshd":
                return pid
            pid = int(stat[stat.rindex(")") + 2 :].split()[1])
    return None


def processes_with(marker: str) -> list[int]:
    """Returns the pids (other than sshd's) whose command line contains `marker`."""
    return [
        pid
        for pid, cmdline in _cmdlines()
        if marker in cmdline and "sshd" not in cmdline.split(" ")[0]
    ]


def sshd_sessions_of(user: str) -> list[int]:
    """Returns the pids of the sshd processes serving `user`'s connections (`sshd: USER@...`)."""
    return [pid for pid, cmdline in _cmdlines() if cmdline.startswith(f"sshd: {user}@")]


def thaw(pids: list[int]) -> None:
    """Lets SIGSTOPped processes (a frozen link, a stuck agent) go again, and ends them."""
    for pid in pids:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
