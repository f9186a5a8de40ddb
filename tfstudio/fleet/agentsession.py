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
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfstudio.errors import TransportError
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


class AgentSession:
    """A running agent session on one device."""

    def __init__(self, device: Device, process: RemoteProcess, hello: dict[str, Any]) -> None:
        self.device = device
        self.process = process
        self.hello = hello
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    @classmethod
    def start(
        cls,
        device: Device,
        transport: Transport,
        *,
        timeout: float = HELLO_TIMEOUT_S,
        cancel: CancelToken | None = None,
    ) -> AgentSession:
        """Starts the agent's session on `transport` and returns it once it said hello.

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
                return cls(device, process, hello)
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
        line = self.process.read_line(timeout, cancel, label or f"waiting for the agent's {op}")
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
            rid = self._send(op, args or {})
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
            ids = [self._send(op, args) for op, args in requests]
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
            rid = self._send("upload", {**args, "offset": offset, "length": length})
            self.process.send_file(local, offset, length, progress)
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
