"""Progress events that `convert` hands to its `progress` callback.

They are small frozen values, so a TUI worker can post them as messages and a
CLI can print them; the core itself never prints. Per mode the sequence is
ModeStarted, StageStarted (converting, verifying, evaluating), then
ModeFinished or ModeFailed. StageStarted(LOADING) with no mode comes first,
and again, with the mode, when a worker is restarted after a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Union


class Stage(str, Enum):
    """What the conversion worker is doing now."""

    LOADING = "loading"
    CONVERTING = "converting"
    VERIFYING = "verifying"
    EVALUATING = "evaluating"


@dataclass(frozen=True)
class StageStarted:
    """The worker began `stage`; `mode` is None while it loads the source and data."""

    stage: Stage
    mode: str | None = None


@dataclass(frozen=True)
class ModeStarted:
    """Conversion of `mode` began; it is number `index` (1-based) of `total`."""

    mode: str
    index: int
    total: int


@dataclass(frozen=True)
class ModeFinished:
    """`mode` is written at `path`; conversion took `seconds`, the file is `size_bytes`."""

    mode: str
    index: int
    total: int
    path: str
    size_bytes: int
    seconds: float


@dataclass(frozen=True)
class ModeFailed:
    """`mode` failed with the one-line `error` (nothing was written for it); others go on."""

    mode: str
    index: int
    total: int
    error: str


ProgressEvent = Union[StageStarted, ModeStarted, ModeFinished, ModeFailed]
"""Anything a progress callback may receive."""
