"""The studio's connector: how every front end opens a device's Transport.

It applies the config's timeouts and answers key-passphrase requests. A
terminal front end gives an `ask` callback (the CLI's getpass prompt, one at
a time even during a fan-out). A front end that cannot block a worker thread
on a dialog (the TUI) gives none: the connector then records which key needed
a passphrase, the connection fails with `PassphraseRequired`, the front end
asks the user between two calls and stores the answer with `remember()`, and
the next attempt uses it. Passphrases live in memory only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from tfstudio.config import Config
from tfstudio.errors import TransportError

if TYPE_CHECKING:
    from tfstudio.fleet.registry import Device
    from tfstudio.transport.base import Transport

AskPassphrase = Callable[[str], "str | None"]
"""Asked with a key file's path; returns its passphrase, or None to skip the key."""
T = TypeVar("T")


class PassphraseRequired(TransportError):
    """A key file is encrypted and no passphrase for it is known; `key_path` names it."""

    def __init__(self, device: str, key_path: str, *, wrong: bool = False) -> None:
        what = "the passphrase given is wrong" if wrong else "it needs a passphrase"
        super().__init__(
            f"{device}: key {key_path} is encrypted and {what}",
            hint="enter the passphrase when asked, or load the key into ssh-agent",
        )
        self.key_path = key_path
        self.wrong = wrong


class Connector:
    """Opens transports with the config's timeouts and the passphrase policy above.

    Callable as `connector(device) -> Transport`, the shape deploy, bench and
    check take. Raises TransportError, HostKeyError or PassphraseRequired.
    """

    def __init__(self, config: Config, ask: AskPassphrase | None = None) -> None:
        self.config = config
        self._ask = ask
        self._ask_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._known: dict[str, str] = {}
        self._missing: set[str] = set()
        self._local = threading.local()  # keys left unanswered by this thread's connect

    def remember(self, key_path: str, passphrase: str) -> None:
        """Stores the passphrase of `key_path` for this session's next connections."""
        with self._state_lock:
            self._known[key_path] = passphrase
            self._missing.discard(key_path)

    def knows(self, key_path: str) -> bool:
        """True when this session holds a passphrase for `key_path`."""
        with self._state_lock:
            return key_path in self._known

    def missing_passphrases(self) -> list[str]:
        """Returns (and forgets) the key paths that needed a passphrase nobody gave.

        A front end calls it after a fan-out whose devices failed to connect.
        """
        with self._state_lock:
            # A connect that began before a passphrase was given may record its miss
            # after: a key known by now is not asked for again.
            found = sorted(self._missing - self._known.keys())
            self._missing.clear()
            return found

    def _passphrase(self, path: str) -> str | None:
        with self._state_lock:
            if path in self._known:
                return self._known[path]
        if self._ask is not None:
            with self._ask_lock:  # one prompt at a time, even during a fan-out
                answer = self._ask(path)
            if answer is not None:
                with self._state_lock:
                    self._known[path] = answer
            return answer
        with self._state_lock:
            self._missing.add(path)
        self._local.unanswered.append(path)
        return None

    def __call__(self, device: Device, *, connect_timeout: float | None = None) -> Transport:
        """Returns a connected Transport to `device`.

        Raises PassphraseRequired when an encrypted key blocked the connection
        (or its stored passphrase was wrong), else TransportError / HostKeyError.
        """
        from tfstudio.fleet.connect import open_transport

        return self.open_with(
            device.name,
            lambda passphrase: open_transport(
                device,
                passphrase=passphrase,
                connect_timeout=connect_timeout or self.config.connect_timeout_s,
                command_timeout=self.config.command_timeout_s,
                stall_timeout=self.config.stall_timeout_s,
            ),
        )

    def open_with(self, name: str, opener: Callable[[AskPassphrase], T]) -> T:
        """Returns `opener(passphrase)`, run under this connector's passphrase policy.

        For anything that opens its own SSH connection with a key (a device's
        transport, an ssh:// Docker Engine). Raises PassphraseRequired as a
        device connection does, else what `opener` raises.
        """
        self._local.unanswered = []
        try:
            return opener(self._passphrase)
        except PassphraseRequired:
            raise
        except TransportError as exc:
            raise self._explain(name, exc) from exc

    def _explain(self, name: str, exc: TransportError) -> TransportError:
        # The SSH layer names the key in its one-line message; turn the two
        # passphrase cases into their own error class so front ends can branch.
        if "wrong passphrase for key " in exc.message:
            path = exc.message.split("wrong passphrase for key ", 1)[1].strip()
            with self._state_lock:
                self._known.pop(path, None)
                self._missing.add(path)
            return PassphraseRequired(name, path, wrong=True)
        unanswered: list[str] = self._local.unanswered
        if unanswered and ("encrypted" in exc.message or "authentication failed" in exc.message):
            # A key we could not open may be the one the device accepts.
            return PassphraseRequired(name, unanswered[0])
        return exc
