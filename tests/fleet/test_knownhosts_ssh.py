"""Host-key decisions against `ssh` itself, on real sshd servers over loopback.

Each case writes known_hosts files and an ssh config, then asks both `ssh
-o StrictHostKeyChecking=yes` and tfstudio to connect: both must accept, or both
refuse the same way (changed key, revoked key, or unknown). Servers: a plain one
(ed25519), one that also has an RSA host key, and one presenting a host certificate.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fleet.conftest import Lab
from tests.helpers.sshd import SshdFactory, SshdServer, keygen
from tfstudio.errors import HostKeyChangedError, HostKeyError, HostKeyRevokedError
from tfstudio.fleet.connect import open_transport
from tfstudio.fleet.registry import Device


@dataclass
class Servers:
    plain: SshdServer
    rsa: SshdServer
    cert: SshdServer
    ca_pub: str
    rsa_pub: str
    expired: SshdServer
    workdir: Path


def _sign(key: Path, ca: Path, validity: str, principals: str) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-s", str(ca), "-I", "tfstudio-test-host", "-h",
         "-n", principals, "-V", validity, str(key.with_suffix(".pub"))],
        check=True, capture_output=True,
    )  # fmt: skip
    return key.parent / (key.name + "-cert.pub")


@pytest.fixture(scope="module")
def servers(sshd: SshdFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    tmp = tmp_path_factory.mktemp("host-keys")
    rsa_key = tmp / "host_rsa"
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(rsa_key)],
                   check=True)  # fmt: skip
    ca = keygen(tmp / "ca")
    cert_key = keygen(tmp / "host_cert_ed25519")
    cert = _sign(cert_key, ca, "-1d:+1d", "127.0.0.1,localhost")
    old_key = keygen(tmp / "host_old_ed25519")
    old = _sign(old_key, ca, "20200101:20200102", "127.0.0.1,localhost")
    started = [
        sshd.start(f"khplain{len(sshd.servers)}"),
        sshd.start(f"khrsa{len(sshd.servers)}", extra_config=f"HostKey {rsa_key}"),
        sshd.start(
            f"khcert{len(sshd.servers)}", extra_config=f"HostKey {cert_key}\nHostCertificate {cert}"
        ),  # fmt: skip
        sshd.start(
            f"khold{len(sshd.servers)}", extra_config=f"HostKey {old_key}\nHostCertificate {old}"
        ),  # fmt: skip
    ]
    try:
        yield Servers(
            started[0], started[1], started[2],
            " ".join(ca.with_suffix(".pub").read_text().split()[:2]),
            " ".join(rsa_key.with_suffix(".pub").read_text().split()[:2]),
            started[3],
            tmp,
        )  # fmt: skip
    finally:
        for server in started:
            server.stop()


@dataclass(frozen=True)
class Case:
    name: str
    server: str
    known: str
    """known_hosts text; {entry} is `[127.0.0.1]:PORT`, {key} the server's ed25519 key,
    {rsa} its RSA key, {ca} the CA, {other} another ed25519 key, {ecdsa} an ECDSA key."""
    config: str = ""
    """More ssh config lines for the host."""
    hostname: str = "127.0.0.1"


CASES = [
    Case("exact", "plain", "{entry} {key}"),
    Case("no port for port 22 only", "plain", "127.0.0.1 {key}"),
    Case("wildcard", "plain", "[127.0.0.*]:{port} {key}"),
    Case("star", "plain", "* {key}"),
    Case("negated", "plain", "[127.0.0.*]:{port},!{entry} {key}"),
    Case("hashed", "plain", "{hashed}"),
    Case("alias", "plain", "mybox {key}", "HostKeyAlias MyBox"),
    Case("alias hides the address", "plain", "{entry} {key}", "HostKeyAlias mybox"),
    Case("second user file", "plain", "# nothing here", "UserKnownHostsFile {kh} {kh2}"),
    Case("global file", "plain", "# nothing here", "GlobalKnownHostsFile {gkh}"),
    Case("upper-case hostname", "plain", "[localhost]:{port} {key}", hostname="LOCALHOST"),
    Case("upper-case entry", "plain", "[LocalHost]:{port} {key}", hostname="localhost"),
    Case("name and address", "plain", "[localhost]:{port},{entry} {key}"),
    Case("revoked", "plain", "@revoked {entry} {key}\n{entry} {key}"),
    Case("revoked for another host", "plain", "@revoked other.example {key}\n{entry} {key}"),
    Case("changed", "plain", "{entry} {other}"),
    Case("changed beside a match", "plain", "{entry} {other}\n{entry} {key}"),
    Case("other type only", "plain", "{entry} {ecdsa}"),
    Case("rsa recorded", "rsa", "{entry} {rsa}"),
    Case("junk around", "plain", "garbage\n\\xff\\xfe bytes\n# c\n{entry} {key} comment words"),
    Case("cert-authority", "cert", "@cert-authority [127.0.0.*]:* {ca}"),
    Case("cert-authority elsewhere", "cert", "@cert-authority *.example.com {ca}"),
    Case("expired certificate", "expired", "@cert-authority * {ca}"),
    Case("cert-authority, plain server", "plain", "@cert-authority * {ca}"),
    Case("revoked ca", "cert", "@cert-authority * {ca}\n@revoked * {ca}"),
]  # fmt: skip


def _fill(text: str, server: SshdServer, servers: Servers, keys: dict[str, str]) -> str:
    entry = f"[127.0.0.1]:{server.port}"
    key = " ".join(server.host_pub_line.split()[:2])
    hashed = ""
    if "{hashed}" in text:
        plain = servers.workdir / f"to-hash-{server.port}"
        plain.write_text(f"{entry} {key}\n")
        subprocess.run(["ssh-keygen", "-H", "-f", str(plain)], check=True, capture_output=True)
        hashed = plain.read_text().strip()
    return (
        text.replace("{entry}", entry).replace("{key}", key).replace("{rsa}", servers.rsa_pub)
        .replace("{ca}", servers.ca_pub).replace("{other}", keys["other"])
        .replace("{ecdsa}", keys["ecdsa"]).replace("{port}", str(server.port))
        .replace("{hashed}", hashed)
    )  # fmt: skip


def _ssh_verdict(alias: str, config: Path) -> str:
    proc = subprocess.run(
        ["ssh", "-F", str(config), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
         "-o", "UpdateHostKeys=no", alias, "true"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if proc.returncode == 0:
        return "accepted"
    if "REVOKED" in proc.stderr:
        return "revoked"
    if "IDENTIFICATION HAS CHANGED" in proc.stderr:
        return "changed"
    assert "Host key verification failed" in proc.stderr, proc.stderr
    return "refused"


def _tfstudio_verdict(alias: str, config: Path) -> str:
    device = Device(name="khcase", host=alias, ssh_config=str(config))
    try:
        with open_transport(device) as transport:
            assert transport.run(["true"]).ok
    except HostKeyRevokedError:
        return "revoked"
    except HostKeyChangedError:
        return "changed"
    except HostKeyError:
        return "refused"
    return "accepted"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("other-keys")
    other = keygen(tmp / "other")
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", str(tmp / "ecdsa")],
                   check=True)  # fmt: skip
    return {
        "other": " ".join(other.with_suffix(".pub").read_text().split()[:2]),
        "ecdsa": " ".join((tmp / "ecdsa.pub").read_text().split()[:2]),
    }


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_tfstudio_decides_as_ssh_does(
    case: Case, lab: Lab, servers: Servers, keys: dict[str, str], tmp_path: Path
) -> None:
    server = {"plain": servers.plain, "rsa": servers.rsa, "cert": servers.cert,
              "expired": servers.expired}[case.server]  # fmt: skip
    known = tmp_path / "kh"
    kh2, gkh = tmp_path / "kh2", tmp_path / "gkh"
    text = _fill(case.known, server, servers, keys)
    known.write_bytes(text.replace("\\xff\\xfe", "\xff\xfe").encode("latin-1") + b"\n")
    entry_line = f"[127.0.0.1]:{server.port} {' '.join(server.host_pub_line.split()[:2])}\n"
    kh2.write_text(entry_line if "kh2" in case.config else "")
    gkh.write_text(entry_line if "gkh" in case.config else "")
    extra = case.config.replace("{kh}", str(known)).replace("{kh2}", str(kh2))
    extra = extra.replace("{gkh}", str(gkh))
    lines = [
        "Host khtarget",
        f"  HostName {case.hostname}",
        f"  Port {server.port}",
        f"  User {lab.users[0]}",
        f"  IdentityFile {lab.sshd.client_key}",
        "  IdentitiesOnly yes",
        *(f"  {line}" for line in extra.splitlines()),
        f"  UserKnownHostsFile {known}",
        "  GlobalKnownHostsFile /dev/null",
    ]
    config = tmp_path / "ssh_config"
    config.write_text("\n".join(lines) + "\n")
    oracle = _ssh_verdict("khtarget", config)
    assert _tfstudio_verdict("khtarget", config) == oracle


def test_the_cases_cover_every_verdict() -> None:
    """Accepted, refused, changed and revoked each occur (checked by name here, by ssh in
    the cases)."""
    names = {c.name for c in CASES}
    assert {"exact", "changed", "revoked", "no port for port 22 only"} <= names
    assert len(CASES) >= 20
