"""known_hosts lookups against `ssh-keygen -F`, OpenSSH's own reader, line by line.

One generated file holds the forms a real known_hosts accumulates (patterns,
negations, ports, hashed names, markers, comments, junk, bytes that are not UTF-8);
for each name looked up, the lines tfstudio finds must be the lines `ssh-keygen -F
NAME -f FILE` reports. (What `ssh` itself then decides is checked against real
servers in tests/fleet/test_knownhosts_ssh.py.)
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers.sshd import keygen
from tfstudio.transport.knownhosts import lookup, lookup_name

QUERIES = [
    "web1.lab", "web3.lab", "WEB1.LAB", "10.0.0.5", "[10.0.0.5]:2222", "[10.0.0.5]:2223",
    "upper.example", "hashed.example", "[hashed.example]:2200", "webzx", "web12x",
    "db.lab", "x.lab", "y.other", "[::1]:2222", "::1", "bastion", "BASTION", "nothing.here",
    "[web1.lab]:22", "ca.example.com", "revoked.example", "star.anything",
    "a,b", "[10.0.0.6]:2222",
]  # fmt: skip


def _hashed(name: str, key_line: str, tmp: Path) -> str:
    """A hashed known_hosts line for `name`, made by ssh-keygen -H itself."""
    path = tmp / "to-hash"
    path.write_text(f"{name} {key_line}\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(path)], check=True, capture_output=True)
    return path.read_text().strip()


@pytest.fixture(scope="module")
def known_hosts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("known-hosts")
    k1 = keygen(tmp / "k1").with_suffix(".pub").read_text().split()[:2]
    k2 = keygen(tmp / "k2").with_suffix(".pub").read_text().split()[:2]
    a, b = " ".join(k1), " ".join(k2)
    lines = [
        f"web*.lab,!web3.lab {a}",
        f"[10.0.0.5]:2222 {b}",
        f"10.0.0.5 {a}",
        f"UPPER.example {a}",
        f"@revoked revoked.example {b}",
        f"@cert-authority *.example.com {b}",
        "# a comment",
        f"web?x {a}",
        "a line that is not a known_hosts line",
        f"*.lab,!x.lab {b}",
        f"[::1]:2222 {a}",
        f"bastion {a} trailing comment words",
        f"[10.0.0.*]:2222 {a}",
        "@unknownmarker star.anything " + a,
        f"star.* {a}",
        f"   indented.example {a}",
        "incomplete.example ssh-ed25519",
        f"badkey.example ssh-ed25519 {'A' * 10}",
        _hashed("hashed.example", a, tmp),
        _hashed("[hashed.example]:2200", b, tmp),
    ]
    path = tmp / "known_hosts"
    body = "\n".join(lines).encode() + b"\n\xff\xfe not utf-8 \xe9 bytes " + a.encode() + b"\n"
    path.write_bytes(body)
    return path


def _ssh_keygen_lines(name: str, path: Path) -> list[int]:
    proc = subprocess.run(
        ["ssh-keygen", "-F", name, "-f", str(path)], capture_output=True, timeout=30
    )
    text = proc.stdout.decode("latin-1")
    return sorted(int(n) for n in re.findall(r"^# Host .* found: line (\d+)", text, re.M))


@pytest.mark.parametrize("name", QUERIES)
def test_lookup_finds_the_lines_ssh_keygen_finds(name: str, known_hosts: Path) -> None:
    found = lookup(name, [known_hosts])
    ours = sorted(line.number for line in (*found.keys, *found.authorities, *found.revoked))
    assert ours == _ssh_keygen_lines(name, known_hosts)


def test_the_looked_up_name_is_sshs() -> None:
    assert lookup_name("h", 22) == "h"
    assert lookup_name("h", 2222) == "[h]:2222"
    assert lookup_name("h", 2222, alias="MyBox") == "mybox"  # an alias carries no port


def test_some_queries_do_find_lines(known_hosts: Path) -> None:
    """The suite is not vacuous: names with and without records, markers included."""
    hits = {q: bool(_ssh_keygen_lines(q, known_hosts)) for q in QUERIES}
    assert sum(hits.values()) >= 12 and not all(hits.values())
