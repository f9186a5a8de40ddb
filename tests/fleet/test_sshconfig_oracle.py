"""ssh config resolution against OpenSSH's own `ssh -G`, case by case.

`tfstudio.transport.sshoptions` asks `ssh -G` wherever an ssh client is installed, so
resolution is exact by construction there; where none is, tfstudio's own reader
(`tfstudio.transport.sshconfig_reader`) must answer the same. Each case below is a
config, a host and the command line's user/port/jump; the reader's answer for every
option tfstudio uses must equal `ssh -G`'s (or both must refuse the config).
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tfstudio.errors import ConfigError
from tfstudio.transport import sshconfig_reader
from tfstudio.transport.sshoptions import read_options

COMPARED = (
    "user", "hostname", "port", "identityfile", "identitiesonly", "connecttimeout",
    "hostkeyalias", "userknownhostsfile", "globalknownhostsfile", "proxyjump",
    "proxycommand", "identityagent", "addressfamily", "bindaddress", "certificatefile",
    "pkcs11provider",
)  # fmt: skip
"""The options tfstudio takes from a resolved config."""

ME = getpass.getuser()


@dataclass(frozen=True)
class Case:
    name: str
    config: str
    host: str
    user: str | None = None
    port: int | None = None
    jump: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    """Other files, by name relative to the case's folder ({dir} in texts is that folder)."""


CASES = [
    Case("alias", "Host lab1\n  HostName 10.0.0.1\n  Port 2200\n  User bob\n", "lab1"),
    Case("no match", "Host lab1\n  HostName 10.0.0.1\n", "other"),
    Case("star", "Host *\n  User star\n", "anything"),
    Case("question mark", "Host lab?\n  Port 2201\n", "lab7"),
    Case("question mark no", "Host lab?\n  Port 2201\n", "lab77"),
    Case("negation", "Host *.lab !db.lab\n  User web\n", "db.lab"),
    Case("negation other", "Host *.lab !db.lab\n  User web\n", "www.lab"),
    Case("char class is literal", "Host [ab]*\n  User cls\n", "abc"),
    Case("char class literal match", "Host [ab]*\n  User cls\n", "[ab]x"),
    Case("first value wins", "Host x\n  User first\nHost *\n  User second\n  Port 2\n", "x"),
    Case("early star wins", "Host *\n  User early\nHost x\n  User late\n", "x"),
    Case("port trailing comment", "Host x\n  Port 2200 # the lab's port\n", "x"),
    Case("user trailing comment", "Host x\n  User bob # who\n", "x"),
    Case("hostname trailing comment", "Host x\n  HostName 10.1.1.1   #comment\n", "x"),
    Case("hash inside word", "Host x\n  User bob#x\n", "x"),
    Case("equals", "Host=x\n  Port=2222\n  User = eq\n", "x"),
    Case("quoted", 'Host x\n  User "bob smith"\n  HostName "a.b"\n', "x"),
    Case("keyword case", "HOST x\n  hostNAME 10.2.2.2\n  pOrT 23\n", "x"),
    Case("tabs", "Host\tx\n\tUser\ttabby\n\n# comment\n   \n", "x"),
    Case("identity files accumulate",
         "Host x\n  IdentityFile ~/.ssh/a\nHost *\n  IdentityFile ~/.ssh/b\n"
         "  IdentityFile ~/.ssh/a\n", "x"),
    Case("identity tokens", "Host x\n  IdentityFile ~/.ssh/id_%h_%p_%r\n", "x"),
    Case("identity env", "Host x\n  IdentityFile ${HOME}/.ssh/k\n", "x"),
    Case("identities only", "Host x\n  IdentitiesOnly yes\n  IdentityFile /k\n", "x"),
    Case("include glob", "Include {dir}/conf.d/*.conf\nHost *\n  User fallback\n", "lab2",
         files={"conf.d/10-lab.conf": "Host lab2\n  User ten\n  Port 2010\n",
                "conf.d/20-lab.conf": "Host lab2\n  User twenty\n  Port 2020\n"}),
    Case("include in host block",
         "Host other\n  Include {dir}/inc.conf\nHost x\n  Port 2\n", "x",
         files={"inc.conf": "User inc\n"}),
    Case("include active", "Host x\n  Include {dir}/inc.conf\n", "x",
         files={"inc.conf": "User inc\n"}),
    Case("include missing", "Include {dir}/nothing/*.conf\nHost x\n  User ok\n", "x"),
    Case("include match stays inside",
         "Host x\n  Include {dir}/inc.conf\n  Port 2345\n", "x",
         files={"inc.conf": "Match host never\n  User no\n"}),
    Case("match host after hostname",
         "Host x\n  HostName real.example\nMatch host real.example\n  User matched\n", "x"),
    Case("match host before hostname",
         "Match host real.example\n  User matched\nHost x\n  HostName real.example\n", "x"),
    Case("match originalhost",
         "Host x\n  HostName real.example\nMatch originalhost x\n  Port 2022\n", "x"),
    Case("match user cli", "Match user deploy\n  Port 2201\n", "x", user="deploy"),
    Case("match user config", "Host x\n  User deploy\nMatch user deploy\n  Port 2202\n", "x"),
    Case("match user before user",
         "Match user deploy\n  Port 2203\nHost x\n  User deploy\n", "x"),
    Case("match localuser", f"Match localuser {ME}\n  User localmatch\n", "x"),
    Case("match all", "Match all\n  User everyone\n", "x"),
    Case("match exec true", "Match exec true\n  User exec-yes\n", "x"),
    Case("match exec false", "Match exec false\n  User exec-no\nHost *\n  User other\n", "x"),
    Case("match exec tokens", 'Match exec "test %h = x"\n  User tok\n', "x"),
    Case("match negated", "Match !host x\n  User not-x\n", "y"),
    Case("match list", "Match host a,b,c\n  User abc\n", "b"),
    Case("match final", "Host x\n  HostName final.example\nMatch final host final.example\n"
         "  User finalpass\n", "x"),
    Case("match canonical", "Match canonical\n  User canon\n", "x"),
    Case("match comment", "Match host x # only x\n  User commented\n", "x"),
    Case("proxyjump", "Host x\n  ProxyJump jumphost\n", "x"),
    Case("proxyjump uri", "Host x\n  ProxyJump ssh://jim@jump:2222\n", "x"),
    Case("proxyjump chain", "Host x\n  ProxyJump j1,bob@j2:2202,ssh://j3\n", "x"),
    Case("proxyjump ipv6", "Host x\n  ProxyJump u@[fe80::1]:22\n", "x"),
    Case("proxyjump comment", "Host x\n  ProxyJump j1 # via the bastion\n", "x"),
    Case("proxyjump none", "Host x\n  ProxyJump none\nHost *\n  ProxyJump other\n", "x"),
    Case("proxycommand", "Host x\n  ProxyCommand nc %h %p # through nc\n", "x"),
    Case("proxycommand then jump", "Host x\n  ProxyCommand nc %h %p\n  ProxyJump j\n", "x"),
    Case("jump then proxycommand", "Host x\n  ProxyJump j\n  ProxyCommand nc %h %p\n", "x"),
    Case("jump none then command", "Host x\n  ProxyJump none\n  ProxyCommand nc x\n", "x"),
    Case("command none then jump", "Host x\n  ProxyCommand none\n  ProxyJump j\n", "x"),
    Case("cli jump", "Host x\n  ProxyJump mine\n  ProxyCommand nc x\n", "x", jump="j1,j2"),
    Case("connect timeout", "Host x\n  ConnectTimeout 7\n", "x"),
    Case("connect timeout units", "Host x\n  ConnectTimeout 1m30s\n", "x"),
    Case("host key alias", "Host x\n  HostKeyAlias MyBox\n", "x"),
    Case("known hosts files",
         "Host x\n  UserKnownHostsFile ~/kh1 /tmp/kh_%h_%p\n"
         "  GlobalKnownHostsFile /etc/k1 /etc/k2\n", "x"),
    Case("identity agent none", "Host x\n  IdentityAgent none\n", "x"),
    Case("identity agent path", "Host x\n  IdentityAgent /tmp/agent.sock\n", "x"),
    Case("address family", "Host x\n  AddressFamily inet\n  BindAddress 127.0.0.1\n", "x"),
    Case("certificate file", "Host x\n  CertificateFile ~/.ssh/id-cert.pub\n", "x"),
    Case("pkcs11 none", "Host x\n  PKCS11Provider none\n", "x"),
    Case("unknown keyword", "Host x\n  NoSuchThing yes\n", "x"),
    Case("ignore unknown", "IgnoreUnknown NoSuch*\nHost x\n  NoSuchThing yes\n  User ig\n", "x"),
    Case("bad port", "Host x\n  Port notanumber\n", "x"),
    Case("port zero padded", "Host x\n  Port 022\n", "x"),
    Case("extra argument", "Host x\n  Port 22 33\n", "x"),
    Case("missing argument", "Host x\n  User\n", "x"),
    Case("cli user and port win", "Host x\n  User cfg\n  Port 2200\n", "x", user="cli", port=2999),
    Case("upper-case host", "Host Lab\n  User upper\n", "Lab"),
    Case("host patterns are case sensitive", "Host LAB\n  User upper\n", "lab"),
    Case("hostname token", "Host x\n  HostName %h.example.com\n", "x"),
    Case("hostname upper-case", "Host x\n  HostName Big.Example.COM\n", "x"),
    Case("bad jump", "Host x\n  ProxyJump j1:notaport\n", "x"),
    Case("quoted host pattern", 'Host "x"\n  User q\n', "x"),
    Case("defaults only", "", "plain"),
]  # fmt: skip


def _setup(case: Case, tmp_path: Path) -> Path:
    for name, text in case.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("{dir}", str(tmp_path)))
        path.chmod(0o600)
    config = tmp_path / "config"
    config.write_text(case.config.replace("{dir}", str(tmp_path)))
    config.chmod(0o600)
    return config


def _answer(fn) -> dict[str, tuple[str, ...]] | str:
    try:
        values = fn()
    except ConfigError:
        return "refused"
    return {k: values.get(k, ()) for k in COMPARED}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_reader_resolves_as_ssh_g(case: Case, tmp_path: Path) -> None:
    config = _setup(case, tmp_path)
    kwargs = {"user": case.user, "port": case.port, "config_path": config, "jump": case.jump}
    oracle = _answer(lambda: read_options(case.host, **kwargs).values)
    ours = _answer(lambda: sshconfig_reader.read(case.host, **kwargs))
    assert ours == oracle


def test_the_suite_covers_the_directives_and_both_outcomes() -> None:
    text = "\n".join(c.config for c in CASES).lower()
    directives = ("include", "match", "proxyjump", "proxycommand", "identitiesonly",
                  "identityfile", "hostkeyalias", "userknownhostsfile")  # fmt: skip
    for directive in (*directives, "identityagent"):
        assert directive in text
    assert len(CASES) >= 50
