"""The agent's one error type: a user-facing message, a stable code, a hint.

The codes are part of the contract with the studio (it reads them from the
`--json` error object over SSH), so they are listed here and nowhere else.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: the agent's cold start is short
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

CODES = frozenset(
    {
        "sha256_mismatch",
        "not_tflite",
        "truncated",
        "runtime_too_old",
        "needs_tf_ops",
        "invoke_failed",
        "validation_timeout",
        "validation_crashed",
        "locked",
        "not_found",
        "no_active",
        "no_runtime",
        "bad_input",
        "disk_full",
        "service_failed",
        "runtime_crashed",
        "timeout",
        "usage",
        "internal",
    }
)
"""Every code an error may carry. `internal` marks a bug in the agent itself."""


class AgentError(Exception):
    """A refusal the user can act on: one-line `message`, a `code`, an optional `hint`."""

    def __init__(self, message: str, code: str, hint: Optional[str] = None) -> None:
        if code not in CODES:
            raise ValueError(f"unknown agent error code {code!r}")
        super().__init__(one_line(message))
        self.message = one_line(message)
        self.code = code
        self.hint = one_line(hint) if hint else None

    def to_json(self) -> Dict[str, Any]:
        """Returns the contract's error object: {"error", "code", "hint"?}."""
        out: Dict[str, Any] = {"error": self.message, "code": self.code}
        if self.hint:
            out["hint"] = self.hint
        return out


def one_line(text: str) -> str:
    """Collapses a (runtime's multi-line) text into one line, keeping its words."""
    parts = [p.strip() for p in str(text).splitlines() if p.strip()]
    return " ".join(parts)
