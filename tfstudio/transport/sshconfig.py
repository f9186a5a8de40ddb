"""Where and how to connect to a host, as OpenSSH would: the route, the user and the keys.

The options come from `tfstudio.transport.sshoptions` (the user's own `ssh -G`, or
tfstudio's reader where no ssh client exists). This module turns them into an
`SSHTarget`, the route paramiko follows:

- HostName, Port, User (the registry's user and port win, as `-l` and `-p` do);
- IdentityFile in order, `~`, `%` tokens and `${VAR}` expanded; a missing file is
  skipped as ssh skips it; IdentitiesOnly and IdentityAgent decide what ssh-agent
  may offer;
- ProxyJump chains and `ssh://` URIs exactly as ssh runs them (`a,b` reaches `b`
  through `a`; each hop but the first ignores its own ProxyJump, and the first
  follows its own); ProxyCommand runs through the shell as ssh runs it;
- HostKeyAlias, UserKnownHostsFile and GlobalKnownHostsFile for the host-key check;
- AddressFamily, BindAddress and ConnectTimeout for the dial.

A directive that would change where the connection goes or which key it uses and
that tfstudio cannot honour (PKCS11Provider, CertificateFile, BindInterface,
KnownHostsCommand, ProxyUseFdpass, PubkeyAuthentication no) is refused in one line
naming it, never ignored.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, replace
from pathlib import Path

from tfstudio.errors import ConfigError
from tfstudio.transport.sshhops import parse_hop, parse_port
from tfstudio.transport.sshoptions import SSHOptions, read_options
from tfstudio.transport.sshtokens import Connection, expand_path, percent_expand, tilde_expand

DEFAULT_CONNECT_TIMEOUT = 10.0
MAX_JUMPS = 8
"""A ProxyJump chain longer than this is treated as a loop in the config."""

PROXY_TOKENS = frozenset("%hnpr")
"""The tokens ssh_config(5) allows in ProxyCommand."""

REFUSED = {
    "pkcs11provider": "keys on a PKCS#11 token (PKCS11Provider) cannot be used by tfstudio",
    "certificatefile": "tfstudio cannot log in with SSH certificates (CertificateFile)",
    "bindinterface": "tfstudio cannot bind the connection to an interface (BindInterface)",
    "knownhostscommand": "tfstudio checks host keys in known_hosts files only (KnownHostsCommand)",
}
"""Directives tfstudio refuses when set (anything but `none`), with why."""


@dataclass(frozen=True)
class SSHTarget:
    """Where and how to connect, after the ssh config has been applied."""

    alias: str
    hostname: str
    port: int = 22
    user: str = ""
    identity_files: tuple[str, ...] = ()
    """Private key files to try, in ssh's order, expanded (some may not exist)."""
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    jump: SSHTarget | None = None
    identities_only: bool = False
    """Only `identity_files` may be offered: no other key from ssh-agent."""
    identity_agent: str | None = None
    """None: $SSH_AUTH_SOCK; "none": no agent; else the agent socket to use."""
    proxy_command: str | None = None
    """A shell command whose stdin/stdout is the connection (tokens expanded)."""
    host_key_alias: str | None = None
    known_hosts: tuple[str, ...] = ()
    """The user's and global known_hosts files the config names, in ssh's order."""
    address_family: str = "any"
    bind_address: str | None = None
    explicit_identity: str | None = None
    """The key the registry names (`--key`): it must exist."""

    def __post_init__(self) -> None:
        if not self.user:
            object.__setattr__(self, "user", getpass.getuser())

    @property
    def host_key_name(self) -> str:
        """The name its host key is looked up under: HostKeyAlias, else the host name."""
        return self.host_key_alias or self.hostname

    def describe(self) -> str:
        """Returns `user@host:port` (with ` via JUMP` when jumping)."""
        text = f"{self.user}@{self.hostname}:{self.port}"
        if self.proxy_command:
            return f"{text} via ProxyCommand"
        return f"{text} via {self.jump.describe()}" if self.jump else text


def default_ssh_config() -> Path:
    """Returns the path of the user's ssh config (`~/.ssh/config`)."""
    return Path.home() / ".ssh" / "config"


def resolve(
    host: str,
    *,
    port: int | None = None,
    user: str | None = None,
    key: str | None = None,
    connect_timeout: float | None = None,
    config_path: Path | None = None,
) -> SSHTarget:
    """Returns the SSHTarget for `host` (an alias or a hostname).

    `config_path` replaces the default configs (~/.ssh/config then
    /etc/ssh/ssh_config), as `ssh -F` does. Raises ConfigError for a config ssh
    refuses, a bad ProxyJump, a ProxyJump loop, an unset `${VAR}` or a directive
    tfstudio cannot honour.
    """
    target = _resolve(host, user, port, config_path, 0)
    if key:
        expanded = tilde_expand(key)
        others = tuple(f for f in target.identity_files if f != expanded)
        target = replace(target, identity_files=(expanded, *others), explicit_identity=expanded)
    if connect_timeout:
        target = replace(target, connect_timeout=connect_timeout)
    return target


def _resolve(
    host: str,
    user: str | None,
    port: int | None,
    config_path: Path | None,
    depth: int,
    jump: str | None = None,
) -> SSHTarget:
    if depth > MAX_JUMPS:
        raise ConfigError(f"ProxyJump chain for {host} is longer than {MAX_JUMPS} hops")
    options = read_options(host, user=user, port=port, config_path=config_path, jump=jump)
    _refuse_unsupported(options, host)
    hostname = options.get("hostname") or host
    real_port = parse_port(options.get("port"), host)
    real_user = options.get("user") or getpass.getuser()
    alias = options.get("hostkeyalias")
    conn = Connection(host, hostname, real_port, real_user, alias)
    identities: list[str] = []
    for name in options.all("identityfile"):
        path = expand_path(name, conn, f"IdentityFile of {host}")
        if path not in identities:
            identities.append(path)
    agent = options.get("identityagent")
    if agent in (None, "SSH_AUTH_SOCK"):
        agent = None
    elif agent != "none":
        agent = _agent_path(agent, conn, host)
    known = tuple(
        tilde_expand(f)
        for f in (*options.words("userknownhostsfile"), *options.words("globalknownhostsfile"))
        if f.lower() != "none"
    )
    target = SSHTarget(
        alias=host,
        hostname=hostname,
        port=real_port,
        user=real_user,
        identity_files=tuple(identities),
        connect_timeout=_timeout(options.get("connecttimeout"), host),
        identities_only=(options.get("identitiesonly") or "no").lower() in ("yes", "true"),
        identity_agent=agent,
        host_key_alias=alias,
        known_hosts=known,
        address_family=(options.get("addressfamily") or "any").lower(),
        bind_address=options.get("bindaddress"),
    )
    command = options.get("proxycommand")
    if command and command.lower() != "none":
        return replace(target, proxy_command=_proxy_command(command, conn, host))
    jump = options.get("proxyjump")
    if jump and jump.lower() != "none":
        return replace(target, jump=_jump_route(jump, host, config_path, depth))
    return target


def _jump_route(spec: str, host: str, config_path: Path | None, depth: int) -> SSHTarget:
    """Returns the hop next to the target for `ProxyJump spec`, with its own route.

    OpenSSH reaches the target through `ssh [-l user] [-p port] [-J rest] last`:
    the last hop of the list is the one next to the target, reached through the
    ones before it; with no hops before it, it follows its own config's ProxyJump
    (or ProxyCommand).
    """
    hops = [h.strip() for h in spec.split(",")]
    if not all(hops):
        raise ConfigError(f"invalid ProxyJump {spec!r} for {host}: an empty hop")
    user, name, port = parse_hop(hops[-1], host)
    # `ssh -J rest last`: the hops before it replace last's own ProxyJump/ProxyCommand.
    return _resolve(name, user, port, config_path, depth + 1, jump=",".join(hops[:-1]) or None)


def _timeout(text: str | None, host: str) -> float:
    if not text or text.lower() == "none":
        return DEFAULT_CONNECT_TIMEOUT
    try:
        value = float(text)
    except ValueError as exc:
        raise ConfigError(f"bad ConnectTimeout {text!r} for {host}") from exc
    return value if value > 0 else DEFAULT_CONNECT_TIMEOUT


def _agent_path(value: str, conn: Connection, host: str) -> str:
    if value.startswith("$") and not value.startswith("${"):
        # The legacy form names an environment variable holding the socket's path.
        path = os.environ.get(value[1:])
        return path if path else "none"
    return expand_path(value, conn, f"IdentityAgent of {host}")


def _proxy_command(command: str, conn: Connection, host: str) -> str:
    if command.strip() == "-":
        raise ConfigError(
            f"ProxyCommand - (file descriptor passing) for {host} is not supported by tfstudio"
        )
    tokens = {k: v for k, v in conn.tokens().items() if k in PROXY_TOKENS}
    return percent_expand(command, tokens, f"ProxyCommand of {host}")


def _refuse_unsupported(options: SSHOptions, host: str) -> None:
    for key, why in REFUSED.items():
        value = options.get(key)
        if value is not None and value.lower() != "none":
            raise ConfigError(
                f"{host}: {why}; ssh config sets {key} {value}",
                hint="use a plain key file (IdentityFile) for this host, or remove the "
                "directive from the config tfstudio reads",
            )
    if (options.get("proxyusefdpass") or "no").lower() in ("yes", "true"):
        raise ConfigError(f"{host}: ProxyUseFdpass is not supported by tfstudio")
    if (options.get("pubkeyauthentication") or "yes").lower() in ("no", "false"):
        raise ConfigError(
            f"{host}: ssh config sets PubkeyAuthentication no, and tfstudio logs in with keys only"
        )
