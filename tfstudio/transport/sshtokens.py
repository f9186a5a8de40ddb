"""OpenSSH's expansions in config values: `~`, `${VAR}` and the `%` tokens.

ssh_config(5) TOKENS: `%%` a literal percent, `%C` a hash of `%l%h%p%r`, `%d` the
local home, `%h` the remote host name, `%i` the local uid, `%k` the host key alias
(else the host as given), `%L` the local host name up to its first dot, `%l` the
local host name, `%n` the host as given, `%p` the port, `%r` the remote user, `%u`
the local user. `ssh -G` prints IdentityFile and ProxyCommand before expansion; `ssh
-v` logs what they became, which is the oracle the tests compare with.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import pwd
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from tfstudio.errors import ConfigError

_DOLLAR = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class Connection:
    """What the tokens of one hop stand for."""

    host_arg: str
    """The host as given (`%n`): an alias, before HostName."""
    hostname: str
    """The host connected to (`%h`), after HostName."""
    port: int
    user: str
    host_key_alias: str | None = None

    def tokens(self) -> dict[str, str]:
        """Returns every token OpenSSH's client expands, by its letter."""
        local = socket.gethostname()
        local_user = getpass.getuser()
        port = str(self.port)
        digest = hashlib.sha1(  # noqa: S324 - OpenSSH's %C is defined as this SHA-1
            (local + self.hostname + port + self.user).encode()
        ).hexdigest()
        return {
            "%": "%",
            "C": digest,
            "d": home_dir(),
            "h": self.hostname,
            "i": str(os.getuid()),
            "k": self.host_key_alias or self.host_arg,
            "L": local.split(".")[0],
            "l": local,
            "n": self.host_arg,
            "p": port,
            "r": self.user,
            "u": local_user,
        }


def percent_expand(text: str, tokens: Mapping[str, str], what: str) -> str:
    """Returns `text` with each `%x` replaced by `tokens[x]`.

    Raises ConfigError naming `what` for an unknown token or a lone `%` at the end,
    as OpenSSH refuses them.
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= len(text):
            raise ConfigError(f"{what}: a lone '%' at the end of {text!r}")
        key = text[i + 1]
        if key not in tokens:
            raise ConfigError(f"{what}: unknown token %{key} in {text!r}")
        out.append(tokens[key])
        i += 2
    return "".join(out)


def dollar_expand(text: str, what: str, env: Mapping[str, str] | None = None) -> str:
    """Returns `text` with each `${VAR}` replaced by the variable's value.

    Raises ConfigError when a variable has no value (OpenSSH stops there too).
    """
    environ = os.environ if env is None else env

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise ConfigError(f"{what}: environment variable ${{{name}}} has no value")
        return environ[name]

    return _DOLLAR.sub(value, text)


def home_dir() -> str:
    """The user's home as ssh knows it: the password database's, not $HOME."""
    return pwd.getpwuid(os.getuid()).pw_dir


def tilde_expand(path: str) -> str:
    """Returns `path` with a leading `~` or `~user` expanded (OpenSSH's
    tilde_expand_filename: from the password database, not $HOME)."""
    if not path.startswith("~"):
        return path
    name, slash, rest = path[1:].partition("/")
    try:
        home = pwd.getpwnam(name).pw_dir if name else home_dir()
    except KeyError:
        return path
    return home + (slash + rest if slash else "")


def expand_path(text: str, connection: Connection, what: str) -> str:
    """Returns a file name from the config as OpenSSH uses it: `~`, then `%` tokens,
    then `${VAR}` (IdentityFile, CertificateFile, UserKnownHostsFile, IdentityAgent)."""
    return dollar_expand(percent_expand(tilde_expand(text), connection.tokens(), what), what)
