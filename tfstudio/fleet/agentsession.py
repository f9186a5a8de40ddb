"""The studio's end of an agent session: one agent process per device and deploy.

`AgentSession.start` runs `AGENT --json session` on one channel of the
device's connection and reads its hello. Each `call` then writes one JSON
request line and reads its answer line; `upload` writes the request and
streams the model's bytes right behind it on the same channel, so a deploy
costs the device one agent process (plus the runtime child the agent starts
for validation and the bench) instead of one per step. Closing the session
(its stdin) ends the agent process, which lets go of the device lock.

An agent older than the session mode answers `session` with a usage error;
`start` raises `SessionUnsupported` and the caller falls back to one-shot
commands (`agentcall`).

A frozen agent is named as such: given `stall_s`, the session asks an agent
that knows `heartbeat` (in the first request's round trip) to say it is alive
every few seconds while a request runs (also while it waits for the device
lock). Silence for `stall_s` then means the agent started but stopped answering
(an overloaded device, an agent stuck before it reads), which is not "another
deploy holds the lock".
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfstudio.errors import NoAnswerError, TransportError
from tfstudio.fleet.agentcall import AgentClient, AgentRefusal, refusal_hint
from tfstudio.fleet.registry import Device
from tfstudio.operations import CancelToken
from tfstudio.transport.base import RemoteProcess, Transport

PROTOCOL = 1
"""The session protocol this studio speaks (the agent's hello names its own)."""

HELLO_TIMEOUT_S = 60.0
"""How long the agent may take to start and say hello (a cold Python on a small board)."""


class SessionUnsupported(Exception):
    """The device's agent has no session mode (an older agent): use one-shot commands."""


class AgentFrozen(TransportError):
    """The agent's session started, then said nothing (not even its heartbeat) for the
    stall timeout: the device is overloaded or its agent is stuck."""


class AgentSession:
    """A running agent session on one device."""

    def __init__(self, device: Device, process: RemoteProcess, hello: dict[str, Any]) -> None:
        self.device = device
        self.process = process
        self.hello = hello
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.stall_s: float | None = None
        """Silence that means a frozen agent, once its heartbeat is on (None: off)."""
        self._beat_every: float | None = None

    @classmethod
    def start(
        cls,
        device: Device,
        transport: Transport,
        *,
        timeout: float = HELLO_TIMEOUT_S,
        cancel: CancelToken | None = None,
        stall_s: float | None = None,
    ) -> AgentSession:
        """Starts the agent's session on `transport` and returns it once it said hello
        (and, with `stall_s`, once it answered its first request: see the module's
        docstring).

        Raises SessionUnsupported (an agent without session mode), AgentRefusal
        (no agent: `agent_missing`, or it could not start), TransportError,
        CancelledError.
        """
        client = AgentClient(device, transport, timeout)
        process = client.start("session")
        try:
            line = process.read_line(timeout, cancel)
            hello = _parse(line)
            if hello is not None and "session" in hello:
                if hello["session"] != PROTOCOL:  # a newer agent speaking another protocol
                    raise SessionUnsupported(f"session protocol {hello['session']}")
                session = cls(device, process, hello)
                if stall_s is not None and session.has("heartbeat"):
                    session.watch_for_freeze(stall_s)
                return session
            code = process.exit_code(wait=5.0)
            try:
                client.answer("session", line, process.stderr_text(), 1 if code is None else code)
            except AgentRefusal as exc:
                if exc.code == "agent_outdated":
                    raise SessionUnsupported(exc.message) from None
                raise
            raise AgentRefusal(
                f"{device.name}: the agent's session did not start: {line.strip()[:200]}",
                code="bad_output",
            )
        except BaseException:
            process.close()
            raise

    def watch_for_freeze(self, stall_s: float) -> None:
        """From the next request on, `stall_s` of silence during a request is a frozen agent:
        the agent's heartbeat (a beat every quarter of `stall_s`, 0.5-5 s) is asked for in
        the same round trip as that request, and answers at once from a live agent."""
        self.stall_s = stall_s
        self._beat_every = max(0.5, min(5.0, stall_s / 4))

    def _send_beat(self) -> int | None:
        """Sends the heartbeat request once (before the first request); returns its id."""
        every, self._beat_every = self._beat_every, None
        return None if every is None else self._send("heartbeat", {"every_s": every})

    def _beat_answer(self, rid: int | None, cancel: CancelToken | None) -> None:
        if rid is not None:
            # A refusal only means no heartbeat: the deadlines still hold.
            try:
                self._receive(rid, "heartbeat", 2 * (self.stall_s or 0) + 1, cancel)
            except AgentRefusal:
                self.stall_s = None

    def has(self, op: str) -> bool:
        """True when the agent's hello lists `op` among its session operations."""
        return op in (self.hello.get("ops") or ())

    @property
    def agent_version(self) -> str:
        """The version the agent announced."""
        return str(self.hello.get("agent_version") or "")

    def _send(self, op: str, args: dict[str, Any]) -> int:
        rid = next(self._ids)
        line = json.dumps({"id": rid, "op": op, "args": args}, separators=(",", ":"))
        self.process.write(line.encode() + b"\n")
        return rid

    def _receive(
        self,
        rid: int,
        op: str,
        timeout: float,
        cancel: CancelToken | None,
        label: str | None = None,
    ) -> dict[str, Any]:
        name = self.device.name
        line = self._next_line(rid, timeout, cancel, label or f"waiting for the agent's {op}")
        if not line:
            tail = self.process.stderr_text().strip().splitlines()[-1:]
            why = f": {tail[0]}" if tail else ""
            raise TransportError(f"{name}: the agent session ended during {op}{why}")
        answer = _parse(line)
        if answer is None or answer.get("id") != rid:
            raise TransportError(f"{name}: the agent session answered out of turn during {op}")
        if answer.get("ok"):
            result = answer.get("result")
            return result if isinstance(result, dict) else {}
        error = answer.get("error") or {}
        code = str(error.get("code") or "error")
        raise AgentRefusal(
            f"{name}: {error.get('error') or op + ' failed'}",
            code=code,
            hint=refusal_hint(name, code, error.get("hint")),
        )

    def _next_line(self, rid: int, timeout: float, cancel: CancelToken | None, label: str) -> str:
        """The next line that is not a heartbeat of request `rid`. Raises TransportError:
        NoAnswerError after `timeout`, or a frozen agent's after `stall_s` of silence."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            window = left if self.stall_s is None else min(left, self.stall_s)
            try:
                line = self.process.read_line(max(window, 0.0), cancel, label)
            except NoAnswerError:
                if self.stall_s is None or window < self.stall_s:
                    raise  # the request's own deadline came first
                name = self.device.name
                raise AgentFrozen(
                    f"the agent on {name} started but has not answered for {self.stall_s:g} s "
                    f"({label}): the device may be overloaded, or its agent stuck before it "
                    "reads",
                    hint=f"look at {name} (load, memory, the python that runs the agent), "
                    "then deploy again",
                ) from None
            answer = _parse(line) if line else None
            if answer is not None and answer.get("alive") and answer.get("id") == rid:
                continue  # alive, still working (or waiting for the device lock)
            return line

    def call(
        self,
        op: str,
        args: dict[str, Any] | None = None,
        *,
        timeout: float,
        cancel: CancelToken | None = None,
    ) -> dict[str, Any]:
        """Runs `op` in the session and returns its result.

        Raises AgentRefusal (the agent's error, with its code), TransportError
        (the link or the session ended; the caller may reconnect and ask for the
        outcome), CancelledError.
        """
        with self._lock:
            beat = self._send_beat()
            rid = self._send(op, args or {})
            self._beat_answer(beat, cancel)
            return self._receive(rid, op, timeout, cancel)

    def call_many(
        self,
        requests: list[tuple[str, dict[str, Any]]],
        *,
        timeout: float,
        cancel: CancelToken | None = None,
    ) -> list[dict[str, Any] | AgentRefusal]:
        """Sends every request at once, then reads their answers: one round trip for all.

        Returns each result, or the AgentRefusal that answered it. Raises
        TransportError, CancelledError.
        """
        with self._lock:
            beat = self._send_beat()
            ids = [self._send(op, args) for op, args in requests]
            self._beat_answer(beat, cancel)
            answers: list[dict[str, Any] | AgentRefusal] = []
            for rid, (op, _) in zip(ids, requests):
                try:
                    answers.append(self._receive(rid, op, timeout, cancel))
                except AgentRefusal as refusal:
                    answers.append(refusal)
            return answers

    def upload(
        self,
        local: Path,
        args: dict[str, Any],
        offset: int,
        length: int,
        *,
        timeout: float,
        progress: Callable[[int, int], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> dict[str, Any]:
        """Sends an `upload` request with `length` bytes of `local` from `offset` behind it.

        Returns the agent's answer ({"size", "sha256"}). Raises like `call`;
        `progress` may raise CancelledError, which leaves the session out of
        step: close it.
        """
        with self._lock:
            beat = self._send_beat()
            rid = self._send("upload", {**args, "offset": offset, "length": length})
            self.process.send_file(local, offset, length, progress)
            self._beat_answer(beat, cancel)
            # The device still writes and fsyncs what arrived: part of the sending.
            return self._receive(rid, "upload", timeout, cancel, f"sending {local.name}")

    def close(self) -> None:
        """Ends the session: its stdin closes, the agent lets go of the lock (never raises)."""
        self.process.close()


def _parse(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
