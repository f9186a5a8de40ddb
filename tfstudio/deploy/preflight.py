"""Preflight: can this model run on this device? Decided before any byte is pushed.

Pure functions over the model's facts (read from the flatbuffer, no runtime),
the device's `info` answer and, when there is one, a proof (`tfstudio compat`)
of this model on the device's exact runtime release. The runtime question is
answered from the best evidence there is, and the verdict says which (`basis`):

1. a proof for the exact release: "proven on tflite-runtime 2.14.0";
2. the measured table (`edge_agent.measured`) for that release or its minor
   line: which op versions the wheel registers, which kernels fail there;
3. the op table in TensorFlow's numbering for runtimes never measured (full
   tensorflow, releases newer than the measurement), plus the kernels that no
   measured release runs.

A refusal names what the model requires, what the device has, and the fixes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge_agent import measured
from edge_agent.min_runtime import TABLE_TENSORFLOW_VERSION, op_runtime
from edge_agent.tflite_schema import ModelFacts, parse_version
from tfstudio.compat.proofs import Proof
from tfstudio.errors import PreflightError
from tfstudio.fleet.agentcall import space_hint

DISK_MARGIN_BYTES = 1 << 20
"""Room kept free beyond the model's two copies (manifest, records, the state file)."""


LINKING_AGENT = (0, 4, 0)
"""The first agent version that stores an upload by linking it instead of copying it
(the session mode came with it; agent 0.3.0 had the service and on-device eval only)."""


def install_needs(facts: ModelFacts, *, links: bool) -> int:
    """Returns the bytes an upload + install of the model needs free on the device.

    An agent that `links` stores the upload itself (`inbox/<sha256>.partial`
    becomes `models/<sha256>/model.tflite`): the model once. An older agent
    copies it, and the two exist side by side until the install ends.
    """
    return (1 if links else 2) * facts.size_bytes + DISK_MARGIN_BYTES


def stores_by_link(info: dict[str, Any]) -> bool:
    """True when the agent that answered `info` stores uploads by linking them."""
    return parse_version(str(info.get("agent_version") or "")) >= LINKING_AGENT


@dataclass(frozen=True)
class Problem:
    """One reason the model cannot go to the device, with its fixes."""

    kind: str
    message: str
    fixes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Returns `{kind, message, fixes}`."""
        return {"kind": self.kind, "message": self.message, "fixes": list(self.fixes)}


@dataclass(frozen=True)
class Verdict:
    """The preflight result: ok, or the problems found."""

    device: str
    problems: tuple[Problem, ...] = field(default_factory=tuple)
    basis: str = ""
    """What the runtime question was answered from: "proven on tflite-runtime 2.14.0",
    "from the op table measured on ai-edge-litert 2.3.0", "from the op table
    (TensorFlow level 2.21.0)"; empty without a runtime."""

    @property
    def ok(self) -> bool:
        """True when nothing rules the model out."""
        return not self.problems

    def raise_if_refused(self) -> None:
        """Raises PreflightError (first problem, all fixes as hint) unless ok."""
        if self.problems:
            message = "; ".join(p.message for p in self.problems)
            fixes = [f for p in self.problems for f in p.fixes]
            basis = f" ({self.basis})" if self.basis else ""
            raise PreflightError(
                f"{self.device}: refused before upload: {message}{basis}",
                hint="; or ".join(dict.fromkeys(fixes)) or None,
            )


def check(
    facts: ModelFacts,
    info: dict[str, Any],
    device: str,
    *,
    stored: bool = False,
    proof: Proof | None = None,
) -> Verdict:
    """Returns the preflight verdict of the model `facts` on a device's `info`.

    `stored`: the device already stores the model (nothing to upload or store).
    `proof`: a `compat` proof of this model; used when it is of the device's exact
    runtime release (name and version), ignored otherwise.
    """
    problems: list[Problem] = []
    basis = ""
    runtime = info.get("runtime")
    if not runtime:
        problems.append(
            Problem(
                "no_runtime",
                "the device has no LiteRT runtime (and no numpy)"
                if info.get("numpy") is None
                else "the device has no LiteRT runtime",
                (f"tfstudio agent install {device} --runtime ai-edge-litert",),
            )
        )
    else:
        found, basis = _runtime_problems(facts, runtime, device, proof)
        problems.extend(found)
    problem = None if stored else _disk_problem(facts, info, device)
    if problem is not None:
        problems.append(problem)
    problems.extend(_arch_problems(facts, info))
    return Verdict(device, tuple(problems), basis)


def _disk_problem(facts: ModelFacts, info: dict[str, Any], device: str) -> Problem | None:
    """Upload + stored copy must fit, less what a resumable upload of this model holds."""
    free = info.get("disk_free_bytes")
    if not isinstance(free, int):
        return None
    linked = stores_by_link(info)
    need = install_needs(facts, links=linked)
    uploaded = sum(
        min(int(p.get("bytes") or 0), facts.size_bytes)
        for p in info.get("partials") or []
        if isinstance(p, dict) and p.get("sha256") == facts.sha256
    )
    if free + uploaded >= need:
        return None
    held = f", {uploaded} of them already uploaded" if uploaded else ""
    what = "its upload, stored in place" if linked else "its upload and its stored copy"
    return Problem(
        "disk_full",
        f"the model needs {need} bytes free on the device ({what}{held}) but the agent "
        f"home has only {free} bytes free",
        (space_hint(device, info),),
    )


UPGRADE = (
    "upgrade the device to ai-edge-litert "
    "(tfstudio agent install {device} --runtime ai-edge-litert)"
)
RECONVERT = (
    "convert the model with an older converter or without dynamic-range quantization "
    "(e.g. full int8)"
)


def _runtime_problems(
    facts: ModelFacts, runtime: dict[str, Any], device: str, proof: Proof | None
) -> tuple[list[Problem], str]:
    """Returns (the runtime's problems, what they were decided from)."""
    name, version = str(runtime.get("name") or ""), str(runtime.get("version") or "")
    label = f"{name} {version}"
    if proof is not None and (proof.sha256, proof.name, proof.version) == (
        facts.sha256,
        name,
        version,
    ):
        basis = f"proven on {label}"
        if proof.ok:
            return [], basis
        problem = Problem(
            "runtime_cannot_run",
            f"{label} cannot run the model (proven by tfstudio compat on "
            f"{proof.proven_at[:10]}: {proof.summary()})",
            (UPGRADE.format(device=device), "convert it in another mode"),
        )
        return [problem, *_flex_problems(facts, runtime, device, label)], basis
    release = measured.release_for(name, version) if name else None
    if release is not None:
        problems, basis = _measured_problems(facts, release, label, device)
    else:
        problems, basis = _table_problems(facts, runtime, device, label)
    return problems + _flex_problems(facts, runtime, device, label), basis


def _measured_problems(
    facts: ModelFacts, release: tuple[str, bool], label: str, device: str
) -> tuple[list[Problem], str]:
    """The op versions and kernels the measured release lacks."""
    measured_release, exact = release
    basis = f"from the op table measured on {measured_release}" + (
        "" if exact else f" (the device runs {label})"
    )
    found = measured.check_release(
        measured_release, [(op.name, op.version) for op in facts.ops], facts.kernels
    )
    problems: list[Problem] = []
    if found.missing:
        problems.append(
            Problem(
                "runtime_too_old",
                f"the model needs a LiteRT runtime >= {facts.min_runtime_version} (ops: "
                f"{', '.join(found.missing)}), the device runs {label}, which does not "
                "register them (measured)",
                (UPGRADE.format(device=device), RECONVERT),
            )
        )
    for kernel, why in found.failing:
        problems.append(
            Problem(
                "kernel_unsupported",
                f"{label} has no working kernel {kernel} (measured: {why})",
                (*_upgrades(facts, device), "convert the model in another mode"),
            )
        )
    return problems, basis


def _upgrades(facts: ModelFacts, device: str) -> tuple[str, ...]:
    """The upgrade that runs the model: the oldest release from which every measured
    release of the newest runtime that runs it does."""
    ops = [(op.name, op.version) for op in facts.ops]

    def runs(name: str, version: str) -> bool:
        return measured.check_release(measured.label(name, version), ops, facts.kernels).ok

    for name in ("ai-edge-litert", "tflite-runtime"):
        oldest = None
        for _name, version in reversed(measured.releases(name)):
            if not runs(name, version):
                break
            oldest = version
        if oldest is not None:
            return (f"upgrade the device runtime to {name} {oldest} or newer, which runs it "
                    f"(tfstudio agent install {device} --runtime {name})",)  # fmt: skip
    return ()


def _table_problems(
    facts: ModelFacts, runtime: dict[str, Any], device: str, label: str
) -> tuple[list[Problem], str]:
    """The TensorFlow-level op table, for a runtime no measurement covers."""
    # The need is computed from every op of every subgraph (not the metadata's claim).
    need = facts.min_runtime_version
    have = str(runtime.get("compat_version") or runtime.get("version") or "")
    basis = f"from the op table (TensorFlow level {have or 'unknown'})"
    problems: list[Problem] = []
    if need and have and parse_version(need) > parse_version(have):
        newer = [
            f"{op.name} v{op.version}"
            for op in facts.ops
            if parse_version(op_runtime(op.name, op.version)) > parse_version(have)
        ] or [str(facts.min_runtime_set_by or "its metadata")]
        problems.append(
            Problem(
                "runtime_too_old",
                f"the model needs a LiteRT runtime >= {need} (ops: {', '.join(newer)}), "
                f"the device runs {label} (level {have})",
                (UPGRADE.format(device=device), RECONVERT),
            )
        )
    # An op version the table lacks is newer than the table, or never listed:
    # unknown is refused, unless the device is newer than the table (its own
    # validation then decides).
    if facts.unknown_ops and parse_version(have) <= parse_version(TABLE_TENSORFLOW_VERSION):
        unknown = ", ".join(f"{op.name} v{op.version}" for op in facts.unknown_ops)
        problems.append(
            Problem(
                "unknown_op_version",
                f"the model uses {unknown}, which the runtime table (TensorFlow "
                f"{TABLE_TENSORFLOW_VERSION}) does not know: no {label} is known to run it",
                (
                    "convert with the TensorFlow this tfstudio supports",
                    "upgrade tfstudio (its runtime table) and the device runtime",
                ),
            )
        )
    for kernel, why in measured.fails_everywhere(facts.kernels):
        problems.append(
            Problem(
                "kernel_unsupported",
                f"no measured LiteRT release runs the model's kernel {kernel} (measured: {why})",
                ("convert the model in another mode",),
            )
        )
    return problems, basis


def _flex_problems(
    facts: ModelFacts, runtime: dict[str, Any], device: str, label: str
) -> list[Problem]:
    flex = facts.flex_ops
    # The agent probes its runtime with a real Flex model; without that fact
    # (an older agent) the delegate is not assumed: none of the usual runtimes
    # (ai-edge-litert, tflite-runtime, TensorFlow 2.21's tf.lite) has it.
    if flex and runtime.get("flex_delegate") is not True:
        return [
            Problem(
                "needs_tf_ops",
                f"the model uses TensorFlow (Flex) ops {', '.join(flex)} and {label} has no "
                "Flex delegate",
                (
                    "convert with builtin ops only (without --select-tf-ops; for LSTM/GRU "
                    "try --fixed-batch 1)",
                    f"install full tensorflow on {device} (it carries the Flex delegate)",
                ),
            )
        ]
    return []


def _arch_problems(facts: ModelFacts, info: dict[str, Any]) -> list[Problem]:
    arch = str(info.get("arch") or "")
    # A 32-bit process cannot map a flatbuffer of 2 GiB or more.
    if arch and not arch.endswith("64") and facts.size_bytes >= 2**31:
        return [
            Problem(
                "arch",
                f"a {facts.size_bytes}-byte model cannot be mapped on a 32-bit {arch} device",
                ("shrink the model (quantize to int8)",),
            )
        ]
    return []
