"""How a rollout's devices are cut into waves: `--waves 1,10%,100%`, `--seed`, `--canary`.

Each entry of `--waves` is how many devices have the model once that wave is done:
a count (`1`) or a percentage of the selection (`25%`, rounded up). Entries that
add nobody (10% of 5 devices after a wave of 1) are dropped; the last must reach
every device (`100%`), so no device is left out silently.

The order is deterministic: named canaries first (in the order given; wave 1
grows to hold them all), then every other device by the sha256 of
`SEED:NAME`. Hashing each name (rather than shuffling the list) keeps a device's
place when others join or leave the fleet, so the same devices go first from
one release to the next for a given seed.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from tfstudio.errors import UsageError

_ENTRY = re.compile(r"^(\d+(?:\.\d+)?)(%?)$")


@dataclass(frozen=True)
class WaveSize:
    """One `--waves` entry: a device count, or a percentage of the selection."""

    value: float
    percent: bool

    def reach(self, total: int) -> int:
        """How many devices have the model once this wave is done (of `total`)."""
        if self.percent:
            return min(total, math.ceil(self.value * total / 100 - 1e-9))
        return min(total, int(self.value))

    def __str__(self) -> str:
        return f"{self.value:g}%" if self.percent else f"{int(self.value)}"


def parse_waves(text: str) -> tuple[WaveSize, ...]:
    """Parses `1,10%,100%`. Raises UsageError for an entry that is neither a count nor a
    percentage, or is out of range."""
    sizes: list[WaveSize] = []
    for word in (w.strip() for w in text.split(",")):
        m = _ENTRY.match(word)
        if not m:
            raise UsageError(
                f"--waves: {word!r} is neither a device count nor a percentage",
                hint="e.g. --waves 1,10%,100%",
            )
        value, percent = float(m.group(1)), bool(m.group(2))
        if not percent and value != int(value):
            raise UsageError(f"--waves: a device count is a whole number, not {word}")
        if value <= 0 or (percent and value > 100):
            raise UsageError(f"--waves: {word} is out of range (counts >= 1, 0% < p <= 100%)")
        sizes.append(WaveSize(value, percent))
    return tuple(sizes)


def order(names: Sequence[str], seed: int = 0, canaries: Sequence[str] = ()) -> list[str]:
    """Returns `names` in rollout order: canaries first, the rest by sha256(seed:name)."""
    unknown = [c for c in canaries if c not in names]
    if unknown:
        raise UsageError(
            f"--canary {unknown[0]} is not among the selected devices",
            hint="name canaries from the --on selection",
        )
    first = list(dict.fromkeys(canaries))
    rest = sorted(
        (n for n in dict.fromkeys(names) if n not in first),
        key=lambda n: hashlib.sha256(f"{seed}:{n}".encode()).hexdigest(),
    )
    return first + rest


def plan(
    names: Sequence[str], waves: str, seed: int = 0, canaries: Sequence[str] = ()
) -> list[list[str]]:
    """Returns the devices of each wave, in order. Raises UsageError (bad `--waves`, a
    canary outside the selection, waves that stop short of every device)."""
    if not names:
        raise UsageError("no devices to roll out to")
    sizes = parse_waves(waves)
    ordered = order(names, seed, canaries)
    total = len(ordered)
    cuts = [size.reach(total) for size in sizes]
    if cuts[-1] < total:
        raise UsageError(
            f"--waves {waves} reaches {cuts[-1]} of {total} devices",
            hint="end the list with 100% (or the device count)",
        )
    cuts[0] = max(cuts[0], min(total, len(dict.fromkeys(canaries))))
    out: list[list[str]] = []
    done = 0
    for cut in cuts:
        if cut > done:
            out.append(ordered[done:cut])
            done = cut
    return out
