"""Strict host keys against real sshd: unknown refused, trust, changed key refused."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.fleet.conftest import Lab
from tests.helpers.sshd import SshdFactory
from tfstudio.cli import main
from tfstudio.errors import HostKeyError
from tfstudio.fleet import registry
from tfstudio.fleet.connect import open_transport
from tfstudio.fleet.registry import get_device


def test_unknown_host_key_is_refused_with_fingerprint_and_trust_command(lab: Lab) -> None:
    device = lab.add("unknown", trust=False, install=False)
    with pytest.raises(HostKeyError) as info:
        open_transport(device)
    fp = lab.servers[0].host_fingerprint
    assert "unknown" in info.value.message
    assert fp in info.value.message
    assert f"tfstudio devices trust unknown --fingerprint {fp}" in (info.value.hint or "")


def test_trust_with_matching_fingerprint_then_connect(lab: Lab, capsys) -> None:
    lab.add("t1", trust=False, install=False)
    fp = lab.servers[0].host_fingerprint
    assert main(["devices", "trust", "t1", "--fingerprint", "SHA256:wrong", "--json"]) == 1
    out = capsys.readouterr().out
    assert '"error"' in out and fp in out and "nothing recorded" in out
    assert main(["devices", "trust", "t1", "--fingerprint", fp]) == 0
    assert fp in capsys.readouterr().out
    with open_transport(get_device("t1")) as transport:
        assert transport.run(["echo", "hi"]).stdout == "hi\n"
    assert main(["devices", "trust", "t1", "--fingerprint", fp]) == 0
    assert "already trusted" in capsys.readouterr().out


def test_trust_without_fingerprint_and_no_terminal_records_nothing(lab: Lab, capsys) -> None:
    device = lab.add("t2", trust=False, install=False)
    assert main(["devices", "trust", "t2"]) == 1
    err = capsys.readouterr().err
    assert lab.servers[0].host_fingerprint in err and "Traceback" not in err
    with pytest.raises(HostKeyError):
        open_transport(device)


def test_changed_host_key_is_refused_even_after_trust(lab: Lab, sshd: SshdFactory) -> None:
    server = sshd.start(f"rekey{len(sshd.servers)}")
    try:
        device = lab.add("rekeyed", server=server, install=False)
        with open_transport(device) as transport:
            assert transport.run(["true"]).ok
        old_fp = server.host_fingerprint
        server.regenerate_host_key()
        with pytest.raises(HostKeyError) as info:
            open_transport(device)
        message = info.value.message
        assert "CHANGED" in message and "MAN-IN-THE-MIDDLE" in message
        assert server.host_fingerprint in message and old_fp in message
        # trust without --replace does not overwrite the recorded key either
        assert main(["devices", "trust", "rekeyed", "--fingerprint", server.host_fingerprint]) == 1
        with pytest.raises(HostKeyError):
            open_transport(device)
    finally:
        server.stop()


def test_the_users_known_hosts_file_is_honoured_as_ssh_names_it(lab: Lab, tmp_path: Path) -> None:
    """The key is only in a known_hosts file the ssh config names (UserKnownHostsFile),
    as ssh reads it; tfstudio's own file knows nothing of it."""
    server = lab.servers[1]
    known = tmp_path / "my_known_hosts"
    known.write_text(f"[127.0.0.1]:{server.port} {server.host_pub_line}\n")
    config = tmp_path / "ssh_config"
    config.write_text(f"Host *\n  UserKnownHostsFile {known}\n")
    device = lab.add("viauser", server=1, trust=False, install=False)
    device = registry.add_device(replace(device, name="viauser2", ssh_config=str(config)))
    with open_transport(device) as transport:
        assert transport.run(["true"]).ok
    with pytest.raises(HostKeyError, match="unknown"):
        open_transport(get_device("viauser"))  # without the config: not known


def test_non_utf8_bytes_in_known_hosts_do_not_break_trust(
    lab: Lab, studio_home: Path, capsys
) -> None:
    lab.add("t8", trust=False, install=False)
    known = studio_home / "known_hosts"
    port = lab.servers[0].port
    known.write_bytes(
        b"# caf\xe9 \xff\xfe\nbad\xfe host line\n"
        + f"[127.0.0.1]:{port} ssh-ed25519 ".encode()
        + b"\xff\xfe\xfd\n"
        + b"\xe9\xe9,[127.0.0.1]:"
        + str(port).encode()
        + b" ssh-rsa AAAA\xff\n"
    )
    fp = lab.servers[0].host_fingerprint
    assert main(["devices", "trust", "t8"]) == 1  # no terminal: shows, records nothing
    assert "Traceback" not in capsys.readouterr().err
    assert main(["devices", "trust", "t8", "--fingerprint", fp, "--replace"]) == 0, (
        capsys.readouterr().err
    )
    assert fp in capsys.readouterr().out
    with open_transport(get_device("t8")) as transport:
        assert transport.run(["echo", "hi"]).stdout == "hi\n"
    assert known.read_bytes().startswith(b"# caf\xe9 \xff\xfe\nbad\xfe host line\n")
    assert main(["devices", "check", "t8", "--json"]) in (0, 1)
    assert "Traceback" not in capsys.readouterr().err
