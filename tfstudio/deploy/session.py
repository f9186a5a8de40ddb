"""One deploy's hold on one device: its connection, the device lock, and the truth after a drop.

A `DeviceSession` opens the connection and starts one agent session on it
(`agentsession`): a single agent process that takes the device lock for the
whole deploy and answers every step (info, upload, install, bench, rollback,
prune) on the same channel, the model's bytes included. With an agent older
than the session mode it falls back to one-shot commands: a `lock` process
that holds the lock until its stdin closes, and one agent process per step.

The deploy's writes (install, activate, rollback, prune) carry an id the agent
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
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfstudio.digest import file_sha256
from tfstudio.errors import CancelledError, TfStudioError, TransportError
from tfstudio.fleet.agentcall import AgentClient, AgentRefusal, oneshot_args
from tfstudio.fleet.agentsession import AgentFrozen, AgentSession, SessionUnsupported
from tfstudio.fleet.push import Meter, PushResult, TransferProgress, push
from tfstudio.fleet.registry import Device
from tfstudio.operations import CancelToken
from tfstudio.transport.base import RemoteProcess, Transport

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
    stall_timeout: float | None = None
    """Silence of a running agent that means it froze (None: only the deadlines above)."""


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
        cancel: CancelToken,
    ) -> None:
        self.device = device
        self.settings = settings
        self.cancel = cancel
        self.lock_id = f"deploy-{uuid.uuid4().hex}"
        self.reconnected = False
        self.lost_how = ""
        """What made the last reconnect necessary: "the link dropped" or "the agent stopped
        answering" (its heartbeat went silent: a stuck agent, or a frozen link)."""
        self.bytes_sent = 0
        self._connect = connect
        self._transport: Transport | None = None
        self._holder: RemoteProcess | None = None
        self._client: AgentClient | None = None
        self._agent: AgentSession | None = None
        self._info: dict[str, Any] | None = None
        self.oneshot = False  # the device's agent has no session mode

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
        """Connects and starts the agent's session (or notes that the agent has none).

        Raises TransportError / HostKeyError, AgentRefusal (no agent there).
        """
        self._transport = self._connect(self.device)
        self._client = AgentClient(self.device, self._transport, self.settings.command_timeout)
        if self.oneshot:
            return
        try:
            self._agent = AgentSession.start(
                self.device,
                self._transport,
                timeout=self.settings.command_timeout,
                cancel=self.cancel,
                stall_s=self.settings.stall_timeout,
            )
        except SessionUnsupported:
            self.oneshot = True

    def lock(
        self, sha256: str | None, need_bytes: int, wait: float | None = None
    ) -> dict[str, Any]:
        """Takes the device lock for this deploy; returns the agent's answer.

        The agent first sweeps leftover uploads (with `need_bytes`, other models'
        partials until that much is free). Through a session, the agent's `info`
        is asked in the same round trip (see `info`). Raises AgentRefusal(locked)
        naming the deploy that kept the device past the wait.
        """
        wait = self.settings.lock_wait if wait is None else wait
        args: dict[str, Any] = {"id": self.lock_id, "owner": lock_owner(), "wait": wait}
        if sha256 is not None:
            args.update({"for": sha256, "need": need_bytes})
        if self._agent is not None:
            if sha256 is None:
                return self._agent.call(
                    "lock", args, timeout=wait + COMMAND_MARGIN_S, cancel=self.cancel
                )
            # The deploy's first questions go together: one round trip for both.
            locked, info = self._agent.call_many(
                [("lock", args), ("info", {})], timeout=wait + COMMAND_MARGIN_S, cancel=self.cancel
            )
            self._info = info if isinstance(info, dict) else None  # kept for a refusal's hint
            if isinstance(locked, AgentRefusal):
                raise locked
            return locked
        holder = self.client.start("lock", *oneshot_args("lock", args))
        try:
            answer = self.client.first_answer("lock", holder, wait + COMMAND_MARGIN_S, self.cancel)
        except BaseException:
            holder.close()
            raise
        self._holder = holder
        return answer

    @property
    def known_info(self) -> dict[str, Any] | None:
        """The `info` that came with the lock (also when the lock was refused), if any."""
        return self._info

    def info(self) -> dict[str, Any]:
        """Returns the agent's `info` (asked together with the lock, when it could be).

        Raises AgentRefusal, TransportError, CancelledError.
        """
        answer, self._info = self._info, None
        return answer if answer is not None else self.call("info")

    def call(
        self, command: str, args: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Runs a command that changes nothing (info, bench, eval, outcome) and returns its
        answer: in the agent's session, or as a one-shot command where the agent has no
        session or its session lacks the operation.

        Raises AgentRefusal, TransportError, CancelledError.
        """
        limit = timeout or self.settings.command_timeout
        if self._agent is not None and self._agent.has(command):
            return self._agent.call(command, args, timeout=limit, cancel=self.cancel)
        words = oneshot_args(command, args or {})
        return self.client.call(command, *words, timeout=limit, cancel=self.cancel)

    def upload(
        self,
        local: Path,
        remote_dir: str,
        sha256: str,
        info: dict[str, Any],
        progress: Callable[[TransferProgress], None] | None = None,
    ) -> PushResult:
        """Sends the model into the device's inbox, resuming what an earlier upload left.

        `info` is the agent's `info` answer (its `partials`). Through a session,
        the agent hashes the bytes as they arrive; without one, `push` streams
        them to a small writer. Raises TransportError, CancelledError (the
        partial file stays for a later resume).
        """
        if self._agent is None:
            return push(
                self.transport, local, remote_dir, sha256, progress=progress, cancel=self.cancel
            )
        total = local.stat().st_size
        partial = f"{remote_dir}/{sha256}.partial"
        offset = 0
        held = [p for p in info.get("partials") or [] if p.get("sha256") == sha256]
        if held and 0 < int(held[0].get("bytes") or 0) <= total:
            have = self._agent.call(
                "partial",
                {"sha256": sha256},
                timeout=self.settings.command_timeout,
                cancel=self.cancel,
            )
            size = int(have.get("size") or 0)
            if have.get("complete") and size == total:
                offset = total
            elif 0 < size <= total and have.get("prefix_sha256") == file_sha256(local, size):
                offset = size  # the prefix on the device is byte-for-byte ours
        if offset == total:
            return PushResult(partial, total, 0, offset)
        meter = Meter(offset)

        def on_progress(done: int, size: int) -> None:
            if self.cancel.is_set():
                raise CancelledError(f"{self.device.name}: upload cancelled at {done} bytes")
            if progress is not None:
                progress(meter.tick(done, size))

        try:
            self._agent.upload(
                local,
                {"sha256": sha256, "total": total},
                offset,
                total - offset,
                timeout=self.settings.command_timeout,
                progress=on_progress,
                cancel=self.cancel,
            )
        except TransportError as exc:
            raise TransportError(
                exc.message, hint=exc.hint or "the next deploy resumes from what arrived"
            ) from None
        return PushResult(partial, total, total - offset, offset)

    def close(self) -> None:
        """Lets go of the device lock and the connection (never raises)."""
        if self._agent is not None:
            self._agent.close()
            self._agent = None
        if self._holder is not None:
            self._holder.close()
            self._holder = None
        if self._transport is not None:
            self.bytes_sent += self._transport.bytes_sent
            self._transport.close()
            self._transport = None
            self._client = None

    # -- writes that survive a dropped link -------------------------------------

    def write(self, command: str, args: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        """Runs agent write `command` inside this deploy's lock and returns its answer.

        When the link drops or stalls meanwhile, reconnects and returns the
        answer the agent recorded. Raises AgentRefusal (the write was refused or
        failed on the device: it is unchanged), StateUnknownError (no link came
        back), CancelledError.
        """
        for attempt in (1, 2):
            op_id = f"{command}-{uuid.uuid4().hex}"
            try:
                if self._agent is not None:
                    return self._agent.call(command, {**args, "op_id": op_id}, timeout=timeout)
                words = [f"--id={op_id}", f"--lock-id={self.lock_id}", *oneshot_args(command, args)]
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
            answer = self.call(
                "outcome", {"op_id": op_id, "wait": wait}, timeout=wait + COMMAND_MARGIN_S
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
        self.lost_how = lost_how(cause)
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
            f"{name}: {lost_how(cause)} during the {doing} "
            f"({cause.message.removeprefix(name + ': ')}) and did not come back within "
            f"{self.settings.reconnect_timeout:g} s, so the device's state is unknown "
            f"(last try: {last.message.removeprefix(name + ': ')})",
            hint=f"check it later: tfstudio models --on {name}",
        )

    def _relock(self) -> None:
        # The dropped connection's agent may still be finishing the write: it lets go
        # of the lock once that is recorded, which may take up to an install's time.
        self.lock(None, 0, wait=max(self.settings.lock_wait, self.settings.install_timeout))


def lost_how(cause: TfStudioError) -> str:
    """Says how a session was lost, as the studio saw it."""
    if isinstance(cause, AgentFrozen):
        return "the agent stopped answering"
    return "the link dropped"


class WriteInterrupted(TfStudioError):
    """A write that, by the agent's record after a reconnect, did not complete (it was
    interrupted, or never started); `recovered` says what the device runs."""

    def __init__(self, recovered: Recovered) -> None:
        super().__init__(f"the write was {recovered.state} on the device")
        self.recovered = recovered
