"""Call the edge agent on a device and parse its one JSON answer.

The agent's contract: `python AGENT --home DIR COMMAND ... --json` prints one
JSON object; on failure it exits non-zero with `{"error", "code", "hint"}`.
This module turns that (and "the agent is not there at all") into
`AgentRefusal`, which keeps the agent's code for callers that branch on it.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from tfstudio.errors import AgentError
from tfstudio.fleet.registry import LOCAL, Device
from tfstudio.fleet.transport import Transport

MISSING_AGENT_EXIT = (2, 126, 127)
"""Exit codes of a Python that cannot open the zipapp, or of a missing python."""


class AgentRefusal(AgentError):
    """The agent answered with an error; `code` is the contract's error code."""

    def __init__(self, message: str, *, code: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


def install_hint(device: Device) -> str:
    """Returns the command that (re)installs the agent on `device`."""
    return f"run: tfstudio agent install {shlex.quote(device.name)}"


class AgentClient:
    """Runs agent commands on one device over a Transport."""

    def __init__(self, device: Device, transport: Transport, timeout: float = 120.0) -> None:
        self.device = device
        self.transport = transport
        self.timeout = timeout

    def call(self, command: str, *args: str, timeout: float | None = None) -> dict[str, Any]:
        """Runs `command args --json` and returns the parsed answer.

        Raises AgentRefusal (with the agent's code, or `agent_missing` /
        `bad_output`) and TransportError.
        """
        argv = [
            *self.device.agent_argv(),
            "--home",
            self.device.agent_home,
            command,
            *args,
            "--json",
        ]
        result = self.transport.run(argv, timeout=timeout or self.timeout)
        answer = _parse(result.stdout)
        name = self.device.name
        if result.exit_code == 0 and answer is not None and "error" not in answer:
            return answer
        if answer is not None and "error" in answer:
            raise AgentRefusal(
                f"{name}: {answer['error']}",
                code=str(answer.get("code", "error")),
                hint=answer.get("hint"),
            )
        stderr = result.stderr.strip()
        if (
            result.exit_code in MISSING_AGENT_EXIT
            and self.device.kind != LOCAL
            and (
                "No such file" in stderr
                or "can't open file" in stderr
                or "not found" in stderr
                or "cannot find" in stderr
            )
        ):
            raise AgentRefusal(
                f"{name}: the tfstudio agent is not installed "
                f"(no {self.device.agent_pyz} or no {self.device.python})",
                code="agent_missing",
                hint=install_hint(self.device),
            )
        last = stderr.splitlines()[-1] if stderr else f"exit code {result.exit_code}"
        raise AgentRefusal(
            f"{name}: agent {command} failed: {last}",
            code="bad_output",
            hint=install_hint(self.device) + " (if the agent is outdated)",
        )


def _parse(stdout: str) -> dict[str, Any] | None:
    text = stdout.strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        # Tolerate stray lines before the JSON object (a noisy runtime import).
        try:
            value = json.loads(text.splitlines()[-1])
        except (ValueError, IndexError):
            return None
    return value if isinstance(value, dict) else None
