"""Public-key login for one SSH hop, offering keys in the order OpenSSH offers them.

ssh (sshconnect2.c, pubkey_prepare) tries, in turn:
1. keys held by the agent that are also named by IdentityFile, in the agent's order;
2. the agent's other keys, unless IdentitiesOnly is set;
3. the remaining IdentityFile keys, in the config's order (a file that does not
   exist is skipped; the registry's own `--key` must exist).
IdentityAgent chooses the agent (`none`: no agent at all). An encrypted key file is
opened with the front end's passphrase callback, or skipped when it has none.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import paramiko

from tfstudio.errors import TransportError
from tfstudio.transport.sshconfig import SSHTarget

PassphraseCallback = Callable[[str], "str | None"]
"""Asked for the passphrase of an encrypted key file; returns None to skip the key."""


class _SocketAgent(paramiko.agent.AgentSSH):
    """The agent listening on one socket (IdentityAgent names it)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(path)
        except OSError:
            conn.close()
            return  # a dangling agent path offers no keys, as for ssh
        self._connect(conn)  # type: ignore[attr-defined]

    def close(self) -> None:
        self._close()  # type: ignore[attr-defined]


@contextlib.contextmanager
def _agent(hop: SSHTarget) -> Iterator[list[paramiko.AgentKey]]:
    """Yields the agent's keys for `hop` ([] with IdentityAgent none or no agent)."""
    if hop.identity_agent == "none":
        yield []
        return
    agent: paramiko.agent.AgentSSH | None = None
    keys: list[paramiko.AgentKey] = []
    try:
        agent = _SocketAgent(hop.identity_agent) if hop.identity_agent else paramiko.Agent()
        keys = list(agent.get_keys())
    except (paramiko.SSHException, OSError):
        keys = []  # an agent that does not answer offers nothing, as for ssh
    try:
        yield keys
    finally:
        if agent is not None:
            with contextlib.suppress(Exception):
                agent._close()  # type: ignore[attr-defined]


def _public_blob(path: str) -> bytes | None:
    """The public key of a key file, from `PATH.pub`, else from the file when it is not
    encrypted (None when neither tells)."""
    pub = Path(path + ".pub")
    if pub.is_file():
        with contextlib.suppress(Exception):
            words = pub.read_text(encoding="utf-8", errors="replace").split()
            if len(words) >= 2:
                import base64

                return base64.b64decode(words[1])
    with contextlib.suppress(Exception):
        return paramiko.PKey.from_path(path).asbytes()
    return None


def offered_order(hop: SSHTarget, agent_keys: list[paramiko.AgentKey]) -> list[object]:
    """Returns what is offered, in ssh's order: agent keys (PKeys) and file paths (str).

    Raises TransportError when the registry's own key file does not exist.
    """
    files: list[str] = []
    for path in hop.identity_files:
        if Path(path).is_file():
            files.append(path)
        elif path == hop.explicit_identity:
            raise TransportError(f"{hop.alias}: key file {path} not found")
    blobs = {path: _public_blob(path) for path in files}
    preferred: list[object] = []
    others: list[object] = []
    for key in agent_keys:
        match = next((p for p in files if blobs[p] == key.asbytes()), None)
        if match is not None:
            files.remove(match)
            preferred.append(key)
        elif not hop.identities_only:
            others.append(key)
    return [*preferred, *others, *files]


def authenticate(
    trans: paramiko.Transport,
    hop: SSHTarget,
    name: str,
    passphrase: PassphraseCallback | None,
) -> None:
    """Logs `hop.user` in on `trans`. Raises TransportError naming what was tried."""
    tried: list[str] = []
    with _agent(hop) as agent_keys:
        for item in offered_order(hop, agent_keys):
            if isinstance(item, str):
                key = _load_key(item, name, passphrase, required=item == hop.explicit_identity)
                if key is None:
                    continue
                tried.append(item)
            else:
                assert isinstance(item, paramiko.PKey)
                key = item
                tried.append("ssh-agent")
            if _try_key(trans, hop.user, key):
                return
    what = ", ".join(dict.fromkeys(tried)) or "no key found"
    only = " (IdentitiesOnly: agent keys not in IdentityFile were not offered)"
    raise TransportError(
        f"{name}: authentication failed for {hop.user}@{hop.hostname}:{hop.port} "
        f"(tried: {what}){only if hop.identities_only else ''}",
        hint="check --user and --key (or the IdentityFile of your ssh config), and that the "
        "public key is in the device's authorized_keys",
    )


def _load_key(
    path: str, name: str, passphrase: PassphraseCallback | None, *, required: bool
) -> paramiko.PKey | None:
    try:
        return paramiko.PKey.from_path(path)
    except (paramiko.PasswordRequiredException, TypeError):
        # paramiko raises PasswordRequiredException for PEM keys; for OpenSSH-format
        # keys the cryptography loader underneath raises TypeError instead.
        secret = passphrase(path) if passphrase else None
        if secret is None:
            if required:
                raise TransportError(
                    f"{name}: key {path} is encrypted and no passphrase was given",
                    hint="run in a terminal to be asked for it, or load it into ssh-agent",
                ) from None
            return None
        try:
            return paramiko.PKey.from_path(path, password=secret.encode())  # type: ignore[arg-type]
        except (paramiko.SSHException, ValueError, TypeError) as exc:
            raise TransportError(f"{name}: wrong passphrase for key {path}") from exc
    except (paramiko.SSHException, OSError, ValueError) as exc:
        if required:
            raise TransportError(f"{name}: cannot load key {path}: {exc}") from exc
        return None  # a key type paramiko cannot use (an sk key, say) is skipped, as ssh would


def _try_key(trans: paramiko.Transport, user: str, key: paramiko.PKey) -> bool:
    try:
        trans.auth_publickey(user, key)
    except paramiko.AuthenticationException:
        return False
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise TransportError(f"authentication for {user} failed: {exc}") from exc
    return trans.is_authenticated()
