"""Reading the studio's own files in TFSTUDIO_HOME without ever losing what they hold.

A state file (`studio-id`, `model_dirs.json`) that is there but unreadable is
refused with a `StateFileError` naming it, never replaced: a new identity would
orphan every training job, a fresh list would forget every remembered folder.
A log (`*.jsonl`, known_hosts) is read line by line: a line that is not UTF-8
text (a disk error, a binary paste) is skipped with a `StateFileWarning` that
names the file and the line, and the lines around it still count.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tfstudio.errors import StateFileError, StateFileWarning


def read_state_text(path: Path, what: str, hint: str | None = None) -> str | None:
    """Returns the UTF-8 text of `path`, or None when it does not exist.

    Raises StateFileError when it exists but cannot be read or is not UTF-8 text;
    `what` says what the file holds (for the message), `hint` how to get it back."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateFileError(f"cannot read {path} ({what}): {exc.strerror}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise corrupt(path, what, "it is not UTF-8 text", hint) from None


def read_state_json(path: Path, what: str) -> Any:
    """Returns the JSON value of `path`, or None when it does not exist. Raises
    StateFileError (unreadable, not UTF-8, not JSON)."""
    text = read_state_text(path, what)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise corrupt(path, what, f"it is not valid JSON ({exc})") from None


def corrupt(path: Path, what: str, why: str, hint: str | None = None) -> StateFileError:
    """Returns the error for a state file that is there but unusable (left as it is)."""
    return StateFileError(
        f"{path} ({what}) is corrupt: {why}; it was left as it is",
        hint=hint
        or f"restore it from a backup, or move it away to start without it: mv {path} "
        f"{path}.broken",
    )


def text_lines(data: bytes, path: Path) -> Iterator[tuple[int, str]]:
    """Yields (line number, text) of a log's bytes; a line that is not UTF-8 is skipped
    with a StateFileWarning naming the file and the line."""
    for number, raw in enumerate(data.splitlines(), 1):
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError:
            warnings.warn(
                StateFileWarning(f"{path}, line {number}: not UTF-8 text; skipped"),
                stacklevel=2,
            )
