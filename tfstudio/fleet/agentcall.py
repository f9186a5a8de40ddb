"""Call the edge agent on a device and parse its one JSON answer.

The agent's contract: `python AGENT --home=DIR --json COMMAND ...` prints one
JSON object; on failure it exits non-zero with `{"error", "code", "hint"}`.
This module turns that (and "the agent is not there at all") into
`AgentRefusal`, which keeps the agent's code for callers that branch on it.

Values reach the agent as `--option=value` words, and paths as positionals
after `--`, so that no value (a model called `-x.tflite`) is read as an option.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from tfstudio.errors import AgentError
from tfstudio.fleet.registry import LOCAL, Device
from tfstudio.operations import CancelToken
from tfstudio.transport.base import RemoteProcess, Transport

MISSING_AGENT_EXIT = (2, 126, 127)
"""Exit codes of a Python that cannot open the zipapp, or of a missing python."""


class AgentRefusal(AgentError):
    """The agent answered with an error; `code` is the contract's error code."""

    def __init__(self, message: str, *, code: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


def space_hint(device: str, info: dict[str, Any] | None = None) -> str:
    """Returns what frees space on a device's agent home: `tfstudio prune`, or, when the
    agent's `info` shows that prune would keep everything stored (the active model and
    its rollback target), what gets out instead."""
    quoted = shlex.quote(device)
    stored = (info or {}).get("stored_models")
    if isinstance(stored, list) and "rollback_target" in (info or {}):
        active = ((info or {}).get("active") or {}).get("sha256")
        kept = {active, (info or {}).get("rollback_target")} & set(stored)
        if not stored:
            return (
                f"{device} stores no model, so prune frees nothing: free space on the device "
                "outside the agent home, or deploy a smaller model"
            )
        if not set(stored) - kept:
            ways = "deploy a smaller model, or free space outside the agent home"
            if len(kept) == 2:
                ways += (
                    f", or drop the rollback target: tfstudio prune {quoted} --keep 1 "
                    "--drop-rollback (it asks first: rollback then has nothing to return to)"
                )
            what = (
                "the active model and its rollback target"
                if len(kept) == 2
                else ("only the active model")
            )
            return f"{device} stores {what}, which prune keeps: {ways}"
    return (
        f"free space on {device}: tfstudio prune {quoted} --keep 1 removes every stored "
        "model but the active one and its rollback target (uploads of other models are "
        "removed by the next deploy)"
    )


def refusal_hint(device: str, code: str, hint: Any) -> str | None:
    """The hint of an agent's refusal as the studio gives it: a full disk names the
    tfstudio command that frees space, not the agent's own."""
    if code == "disk_full":
        return space_hint(device)
    return str(hint) if hint else None


def install_hint(device: Device) -> str:
    """Returns the command that (re)installs the agent on `device`."""
    return f"run: tfstudio agent install {shlex.quote(device.name)}"


class AgentClient:
    """Runs agent commands on one device over a Transport."""

    def __init__(self, device: Device, transport: Transport, timeout: float = 120.0) -> None:
        self.device = device
        self.transport = transport
        self.timeout = timeout

    def argv(self, command: str, *args: str) -> list[str]:
        """Returns the words that run agent `command` with `args` (JSON answer)."""
        return [*self.device.agent_argv(), "--json", command, *args]

    def call(
        self,
        command: str,
        *args: str,
        timeout: float | None = None,
        cancel: CancelToken | None = None,
    ) -> dict[str, Any]:
        """Runs agent `command args` and returns the parsed JSON answer.

        Raises AgentRefusal (with the agent's code, or `agent_missing` /
        `bad_output`), TransportError, and CancelledError when `cancel` is set.
        """
        result = self.transport.run(
            self.argv(command, *args),
            timeout=timeout or self.timeout,
            cancel=cancel,
            label=f"agent {command}",
        )
        return self.answer(command, result.stdout, result.stderr, result.exit_code)

    def start(self, command: str, *args: str) -> RemoteProcess:
        """Starts agent `command args` and leaves it running (stdin open)."""
        return self.transport.spawn(self.argv(command, *args))

    def first_answer(
        self,
        command: str,
        process: RemoteProcess,
        timeout: float,
        cancel: CancelToken | None = None,
    ) -> dict[str, Any]:
        """Returns the first JSON answer of a started agent command. Raises like `call`."""
        line = process.read_line(timeout, cancel)
        answer = _parse(line)
        if answer is not None and "error" not in answer:
            return answer
        process.close()
        code = 1 if answer is not None else 2
        return self.answer(command, line, process.stderr_text(), code)

    def answer(self, command: str, stdout: str, stderr: str, exit_code: int) -> dict[str, Any]:
        """Returns the JSON answer of a finished agent command; raises AgentRefusal as `call`."""
        answer = _parse(stdout)
        name = self.device.name
        if exit_code == 0 and answer is not None and "error" not in answer:
            return answer
        if answer is not None and "error" in answer:
            text = str(answer["error"])
            if answer.get("code") == "usage" and "invalid choice" in text:
                stderr = text  # an agent older than this studio: named below
            else:
                code = str(answer.get("code", "error"))
                raise AgentRefusal(
                    f"{name}: {text}", code=code, hint=refusal_hint(name, code, answer.get("hint"))
                )
        stderr = stderr.strip()
        result_code = exit_code
        if (
            result_code in MISSING_AGENT_EXIT
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
        last = stderr.splitlines()[-1] if stderr else f"exit code {result_code}"
        if "invalid choice" in stderr or "unrecognized arguments" in stderr:
            raise AgentRefusal(
                f"{name}: the agent on the device is too old for this studio "
                f"(it has no `{command}`)",
                code="agent_outdated",
                hint=install_hint(self.device),
            )
        raise AgentRefusal(
            f"{name}: agent {command} failed: {last}",
            code="bad_output",
            hint=install_hint(self.device) + " (if the agent is outdated)",
        )


POSITIONAL = {"install": "path", "activate": "sha", "outcome": "op_id", "eval": "data_path"}
"""The argument each one-shot command takes as its positional (after `--`)."""

OPTION_NAMES = {
    "op_id": "id",
    "model_ref": "model",
    "input_kind": "input",
    "input_sha": "input_sha256",
    "data_sha": "sha256",
    "with_top1": "top1",
}
"""Session argument names whose one-shot option is spelled otherwise."""


def oneshot_args(command: str, args: dict[str, Any]) -> list[str]:
    """Returns the one-shot command-line words for a session request's `args`.

    `{"op_id": X, "keep": 2, "activate": False}` → `--id=X --keep=2 --no-activate`
    (a true flag is `--flag`, a false one is left out); the command's positional
    (see POSITIONAL) goes last, after `--`.
    """
    words: list[str] = []
    positional = POSITIONAL.get(command)
    for key, value in args.items():
        if key == positional or value is None:
            continue
        flag = "--" + OPTION_NAMES.get(key, key).replace("_", "-")
        if isinstance(value, bool):
            if key == "activate":  # the agent activates unless told not to
                words += [] if value else ["--no-activate"]
            elif value:
                words.append(flag)
        elif isinstance(value, float):
            words.append(f"{flag}={value:g}")
        else:
            words.append(f"{flag}={value}")
    if positional is not None and args.get(positional) is not None:
        words += ["--", str(args[positional])]
    return words


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
