"""What measured runtime releases can run, read from `runtime_measured` (stdlib only).

`runtime_measured` records, for every runtime release measured by
scripts/measure_runtimes.py, which builtin op versions it registers and which
kernels (an op with its tensor types, `tflite_schema.kernel_key`) fail to
allocate or invoke there. This module answers from it:

- `check_release`: can this release run a model's op versions and kernels?
- `release_for`: which measured release stands for a device's runtime (the same
  release, else the measured one of its minor line);
- `first_release`: the oldest release of a runtime that registers an op version;
- `release_level`: a release's level in TensorFlow's numbering, as measured
  (every op version at or below it, that some measured wheel registers, is
  registered there), which `runtime_meta.LITERT_COMPAT` must not exceed;
- `fails_everywhere`: kernels that no measured release runs.

The data module is large, so it is imported on first use, not with this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple

from edge_agent.runtime_meta import parse_version

_DATA: List[Any] = []


def _data() -> Any:
    if not _DATA:
        from edge_agent import runtime_measured

        _DATA.append(runtime_measured)
    return _DATA[0]


def label(name: str, version: str) -> str:
    """'tflite-runtime 2.14.0': how a release is named in the data and to people."""
    return f"{name} {version}"


def releases(name: Optional[str] = None) -> List[Tuple[str, str]]:
    """Returns the measured (name, version) releases, oldest first per runtime."""
    found = [(n, v) for n, v, _python, _numpy in _data().RUNTIMES]
    return [(n, v) for n, v in found if name is None or n == name]


def measured_on() -> str:
    """The day the wheels were measured, and the converter of the zoo: '2026-12-06, TF 2.21.0'."""
    return f"{_data().MEASURED_ON}, TensorFlow {_data().CONVERTER}"


def registers(release: str, op: str, version: int) -> bool:
    """True when the measured `release` ('tflite-runtime 2.14.0') registers `op` v`version`."""
    table = _data().REGISTERED.get(release, {})
    have = table.get(op)
    if have is None:
        return False
    return version <= have if isinstance(have, int) else version in have


def kernel_failure(release: str, kernel: str) -> Optional[str]:
    """Returns the runtime's reason when `kernel` failed on `release`, else None."""
    return _data().KERNEL_FAILURES.get(release, {}).get(kernel)


def release_for(name: str, version: str) -> Optional[Tuple[str, bool]]:
    """Returns (the measured release standing for runtime `name` `version`, exact), or None.

    The release itself when measured (exact); else the measured release of its
    minor line (ai-edge-litert 2.1.6 → 2.1.0: patch releases fix, they do not
    drop kernels); else None: only the op table can say.
    """
    wanted = parse_version(version)
    line = [v for n, v in releases(name) if parse_version(v)[:2] == wanted[:2]]
    if version in line:
        return label(name, version), True
    if line:
        return label(name, line[-1]), False
    return None


@dataclass(frozen=True)
class ReleaseCheck:
    """A model against one measured release: op versions it lacks, kernels that fail there."""

    release: str
    missing: List[str] = field(default_factory=list)
    failing: List[Tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the release registers every op version and no kernel is known to fail."""
        return not self.missing and not self.failing

    def reasons(self) -> List[str]:
        """One phrase per problem: 'no FULLY_CONNECTED v12', 'RSQRT(int16)->(int16): ...'."""
        return [f"no {m}" for m in self.missing] + [f"{k}: {why}" for k, why in self.failing]


def check_release(
    release: str, ops: Iterable[Tuple[str, int]], kernels: Iterable[str]
) -> ReleaseCheck:
    """Checks a model's builtin op versions and kernels against a measured release.

    Custom ops (Flex included) are left to the caller: registration data covers builtins.
    """
    missing = [
        f"{op} v{version}"
        for op, version in ops
        if not op.startswith("CUSTOM:") and not registers(release, op, int(version))
    ]
    failing = []
    for kernel in kernels:
        why = kernel_failure(release, kernel)
        if why is not None:
            failing.append((kernel, why))
    return ReleaseCheck(release, list(dict.fromkeys(missing)), failing)


def fails_everywhere(kernels: Iterable[str]) -> List[Tuple[str, str]]:
    """Returns (kernel, a reason) for each kernel that failed on every measured release."""
    every = [label(n, v) for n, v in releases()]
    found = []
    for kernel in kernels:
        reasons = [kernel_failure(r, kernel) for r in every]
        if every and all(reasons):
            found.append((kernel, str(reasons[-1])))
    return found


def first_release(op: str, version: int, name: str) -> Optional[str]:
    """Returns the oldest measured version of runtime `name` registering `op` v`version`."""
    for n, v in releases(name):
        if registers(label(n, v), op, version):
            return v
    return None


def release_level(name: str, version: str, table: Dict[str, Dict[int, str]]) -> Optional[str]:
    """Returns the measured release's level in TensorFlow's numbering: the highest level L
    of `table` (op → version → level) such that the release registers every op version
    of level <= L that any measured release registers. None when not measured."""
    release = label(name, version)
    if (name, version) not in releases(name):
        return None
    every = [label(n, v) for n, v in releases()]
    known = [
        (level, op, v)
        for op, versions in table.items()
        for v, level in versions.items()
        if any(registers(r, op, v) for r in every)
    ]
    best: Optional[str] = None
    for level in sorted({lv for lv, _op, _v in known}, key=parse_version):
        if any(not registers(release, op, v) for lv, op, v in known if lv == level):
            break
        best = level
    return best
