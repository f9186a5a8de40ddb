"""One deploy's hold on one device: its connection, the device lock, and the truth after a drop.

A `DeviceSession` opens the connection, takes the agent's device lock for the
whole deploy (a `lock` process that holds it until its stdin closes), and runs
the deploy's writes (install, activate, rollback, prune) with an id the agent
records. When the link drops or stalls during a write, `write` reconnects
(bounded, with backoff), takes the lock again and asks the agent what became
of that write (`outcome`), so the deploy continues from what the device really
did, or reports that the device's state is unknown because it stayed out of
reach.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tfstudio.errors import CancelledError, TfStudioError, TransportError
from tfstudio.fleet.agentcall import AgentClient, AgentRefusal
from tfstudio.fleet.registry import Device
from tfstudio.fleet.transport import RemoteProcess, Transport

BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)
"""Pauses between reconnection attempts (the last one repeats)."""

COMMAND_MARGIN_S = 30.0
"""Time allowed beyond an agent-side wait (the lock, an outcome) for the answer to arrive."""


@dataclass(frozen=True)
class SessionSettings:
    """The deadlines a session works within (see `tfstudio.config.Config`)."""

    command_timeout: float = 120.0
    install_timeout: float = 300.0
    lock_wait: float = 60.0
    reconnect_timeout: float = 60.0


class StateUnknownError(TransportError):
    """The link dropped during a write and did not come back: the device's state is unknown."""


@dataclass(frozen=True)
class Recovered:
    """What the agent said about a write after the link came back."""

    state: str  # done, failed, interrupted, unknown, running
    result: dict[str, Any] | None
    error: dict[str, Any] | None  # the agent's error object of a failed write

    @property
    def never_ran(self) -> bool:
        """True when the write did not get to change anything: no record and no process,
        or refused because this deploy's lock was gone (the link dropped as it started)."""
        lost_lock = self.state == "failed" and (self.error or {}).get("code") == "locked"
        return self.state == "unknown" or lost_lock

    active: str | None
    previous: str | None


def lock_owner() -> str:
    """Returns how this studio names itself to other deploys: `user@host (pid N)`."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        user = "?"
    return f"{user}@{socket.gethostname()} (pid {os.getpid()})"


class DeviceSession:
    """The connection, device lock and agent client of one deploy to one device."""

    def __init__(
        self,
        device: Device,
        connect: Callable[[Device], Transport],
        settings: SessionSettings,
        cancel: threading.Event,
    ) -> None:
        self.device = device
        self.settings = settings
        self.cancel = cancel
        self.lock_id = f"deploy-{uuid.uuid4().hex}"
        self.reconnected = False
        self.bytes_sent = 0
        self._connect = connect
        self._transport: Transport | None = None
        self._holder: RemoteProcess | None = None
        self._client: AgentClient | None = None

    # -- connection and lock --------------------------------------------------

    @property
    def transport(self) -> Transport:
        """The open connection. Raises TransportError when there is none."""
        if self._transport is None:
            raise TransportError(f"{self.device.name}: not connected")
        return self._transport

    @property
    def client(self) -> AgentClient:
        """The agent client on the open connection."""
        if self._client is None:
            raise TransportError(f"{self.device.name}: not connected")
        return self._client

    def open(self) -> None:
        """Connects. Raises TransportError / HostKeyError."""
        self._transport = self._connect(self.device)
        self._client = AgentClient(self.device, self._transport, self.settings.command_timeout)

    def lock(self, sha256: str, need_bytes: int) -> dict[str, Any]:
        """Takes the device lock for this deploy; returns the agent's answer.

        The agent first sweeps leftover uploads (with `need_bytes`, other models'
        partials until that much is free). Raises AgentRefusal(locked) naming the
        deploy that kept the device past the wait.
        """
        args = [f"--id={self.lock_id}", f"--owner={lock_owner()}"]
        args += [f"--wait={self.settings.lock_wait:g}", f"--for={sha256}", f"--need={need_bytes}"]
        holder = self.client.start("lock", *args)
        try:
            answer = self.client.first_answer(
                "lock", holder, self.settings.lock_wait + COMMAND_MARGIN_S, self.cancel
            )
        except BaseException:
            holder.close()
            raise
        self._holder = holder
        return answer

    def close(self) -> None:
        """Lets go of the device lock and the connection (never raises)."""
        if self._holder is not None:
            self._holder.close()
            self._holder = None
        if self._transport is not None:
            self.bytes_sent += self._transport.bytes_sent
            self._transport.close()
            self._transport = None
            self._client = None

    # -- writes that survive a dropped link -------------------------------------

    def write(self, command: str, *args: str, timeout: float) -> dict[str, Any]:
        """Runs agent write `command` inside this deploy's lock and returns its answer.

        When the link drops or stalls meanwhile, reconnects and returns the
        answer the agent recorded. Raises AgentRefusal (the write was refused or
        failed on the device: it is unchanged), StateUnknownError (no link came
        back), CancelledError.
        """
        for attempt in (1, 2):
            op_id = f"{command}-{uuid.uuid4().hex}"
            words = [f"--id={op_id}", f"--lock-id={self.lock_id}", *args]
            try:
                return self.client.call(command, *words, timeout=timeout)
            except AgentRefusal:
                raise
            except TransportError as exc:
                recovered = self.recover(op_id, command, exc)
            if not recovered.never_ran or attempt == 2:
                break
            # The write changed nothing on the device: running it once more over
            # the new connection (and the lock taken again) is safe.
        if recovered.state == "done" and recovered.result is not None:
            return recovered.result
        if recovered.state == "failed" and recovered.error:
            error = recovered.error
            raise AgentRefusal(
                f"{self.device.name}: {error.get('error')}",
                code=str(error.get("code", "error")),
                hint=error.get("hint"),
            )
        raise WriteInterrupted(recovered)

    def recover(self, op_id: str, command: str, cause: TransportError) -> Recovered:
        """Reconnects after `cause` and returns what the agent recorded for `op_id`.

        Raises StateUnknownError when the device stays out of reach.
        """
        self.close()
        doing = f"{command} of this deploy"
        self.reconnect(cause, doing)
        self.reconnected = True
        wait = self.settings.install_timeout
        try:
            answer = self.client.call(
                "outcome", op_id, f"--wait={wait:g}", timeout=wait + COMMAND_MARGIN_S
            )
        except TransportError as again:
            raise self._unknown(cause, again, doing) from None
        return Recovered(
            state=str(answer.get("state")),
            result=answer.get("result"),
            error=answer.get("failure"),
            active=answer.get("active"),
            previous=answer.get("previous"),
        )

    def reconnect(self, cause: TransportError, doing: str) -> None:
        """Connects again (with backoff, within the reconnect timeout) and re-takes the lock.

        Raises StateUnknownError when it cannot, CancelledError when cancelled.
        """
        deadline = time.monotonic() + self.settings.reconnect_timeout
        attempt = 0
        last: TfStudioError = cause
        while True:
            if self.cancel.is_set():
                raise CancelledError(f"{self.device.name}: cancelled while reconnecting")
            try:
                self.open()
                self._relock()
                return
            except AgentRefusal:
                self.close()
                raise
            except TfStudioError as exc:
                self.close()
                last = exc
            pause = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
            attempt += 1
            if time.monotonic() + pause > deadline:
                raise self._unknown(cause, last, doing)
            time.sleep(pause)

    def _unknown(self, cause: TfStudioError, last: TfStudioError, doing: str) -> StateUnknownError:
        name = self.device.name
        return StateUnknownError(
            f"{name}: the connection was lost during the {doing} "
            f"({cause.message.removeprefix(name + ': ')}) and did not come back within "
            f"{self.settings.reconnect_timeout:g} s, so the device's state is unknown "
            f"(last try: {last.message.removeprefix(name + ': ')})",
            hint=f"check it later: tfstudio models --on {name}",
        )

    def _relock(self) -> None:
        holder = self.client.start(
            "lock", f"--id={self.lock_id}", f"--owner={lock_owner()}",
            f"--wait={self.settings.lock_wait:g}",
        )  # fmt: skip
        try:
            self.client.first_answer(
                "lock", holder, self.settings.lock_wait + COMMAND_MARGIN_S, self.cancel
            )
        except BaseException:
            holder.close()
            raise
        self._holder = holder


class WriteInterrupted(TfStudioError):
    """A write that, by the agent's record after a reconnect, did not complete (it was
    interrupted, or never started); `recovered` says what the device runs."""

    def __init__(self, recovered: Recovered) -> None:
        super().__init__(f"the write was {recovered.state} on the device")
        self.recovered = recovered
