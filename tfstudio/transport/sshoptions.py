"""A host's SSH options, resolved the way OpenSSH resolves them.

`read_options` asks the user's own `ssh -G` (OpenSSH's reference implementation of
ssh_config: Include, Match, tokens, canonicalisation, first-value-wins) whenever an
`ssh` client is installed, with the user, port and key tfstudio was given as `-l`, `-p`
and `-i`, as on ssh's command line. Without one it falls back to
`tfstudio.transport.sshconfig_reader`, which the same oracle suite checks.
Either way the answer is an `SSHOptions`: each keyword (lower case) with its values, in
the order and form `ssh -G` prints them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tfstudio.errors import ConfigError

SSH_BINARY_ENV = "TFSTUDIO_SSH"
"""Overrides which `ssh` client resolves configs ("none": never run one, use the reader)."""

SSH_G_TIMEOUT_S = 30.0
"""`ssh -G` reads files and may run `Match exec` commands; it never connects."""

MULTI = frozenset({"identityfile", "certificatefile"})
"""Keywords `ssh -G` prints once per value."""


@dataclass(frozen=True)
class SSHOptions:
    """The resolved options of one host: keyword → values (`ssh -G`'s form)."""

    values: dict[str, tuple[str, ...]]
    source: str
    """How they were resolved: `ssh -G` or `tfstudio's reader`."""

    def get(self, key: str, default: str | None = None) -> str | None:
        """Returns the option's (first) value, or `default`."""
        found = self.values.get(key)
        return found[0] if found else default

    def all(self, key: str) -> tuple[str, ...]:
        """Returns every value of a multi-valued option (IdentityFile), in order."""
        return self.values.get(key, ())

    def words(self, key: str) -> tuple[str, ...]:
        """Returns an option whose one value is a list (UserKnownHostsFile), split."""
        value = self.get(key)
        return tuple(value.split()) if value else ()


def parse_ssh_g(text: str) -> dict[str, tuple[str, ...]]:
    """Returns `ssh -G`'s output as keyword → values."""
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, _, rest = line.strip().partition(" ")
        if not key:
            continue
        values.setdefault(key.lower(), []).append(rest.strip())
    return {k: tuple(v) for k, v in values.items()}


def ssh_client() -> str | None:
    """Returns the `ssh` client to ask, or None (none installed, or turned off)."""
    chosen = os.environ.get(SSH_BINARY_ENV)
    if chosen == "none":
        return None
    return chosen or shutil.which("ssh")


def read_options(
    host: str,
    *,
    user: str | None = None,
    port: int | None = None,
    config_path: Path | None = None,
    jump: str | None = None,
    extra: Sequence[str] = (),
) -> SSHOptions:
    """Returns `host`'s options from `config_path` (default: ~/.ssh/config, then
    /etc/ssh/ssh_config), with `user` and `port` winning as on ssh's command line.
    `jump` is ssh's `-J`: the hops before this one (its own ProxyJump and ProxyCommand
    then do not apply). `extra` are more `-o Keyword=value` settings.

    Raises ConfigError with OpenSSH's own words for a config it refuses.
    """
    if host.startswith("-"):
        raise ConfigError(f"invalid host {host!r}: it would read as an option")
    client = ssh_client()
    if client is None:
        from tfstudio.transport.sshconfig_reader import read

        return SSHOptions(
            read(host, user=user, port=port, config_path=config_path, jump=jump, extra=extra),
            "tfstudio's reader",
        )  # fmt: skip
    argv = [client, "-G"]
    if config_path is not None:
        argv += ["-F", str(config_path)]
    if user:
        argv += ["-l", user]
    if port:
        argv += ["-p", str(port)]
    if jump:
        argv += ["-J", jump]
    for setting in extra:
        argv += ["-o", setting]
    argv += ["--", host]
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=SSH_G_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise ConfigError(
            f"resolving {host} with `ssh -G` took over {SSH_G_TIMEOUT_S:g}s",
            hint="a `Match exec` command in your ssh config may hang",
        ) from exc
    except OSError as exc:
        raise ConfigError(f"cannot run {client} -G to read your ssh config: {exc}") from exc
    if proc.returncode != 0:
        detail = _first_error(proc.stderr) or f"ssh -G exited {proc.returncode}"
        where = f" ({config_path})" if config_path and str(config_path) not in detail else ""
        raise ConfigError(f"your ssh config cannot be read for {host}{where}: {detail}")
    return SSHOptions(parse_ssh_g(proc.stdout), "ssh -G")


def _first_error(stderr: str) -> str:
    """The line of ssh's stderr that says what is wrong (not the terminal noise)."""
    lines = [
        line.strip()
        for line in stderr.splitlines()
        if line.strip() and "Pseudo-terminal" not in line
    ]
    return lines[0] if lines else ""
