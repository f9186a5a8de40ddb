"""Which output accuracy is computed on: chosen by name, never by position."""

from __future__ import annotations

from collections.abc import Sequence

from tfstudio.errors import UsageError
from tfstudio.models.source import OutputSpec

FIRST = "first in the signature"
CHOSEN = "chosen with --eval-output"


def choose_eval_output(outputs: Sequence[OutputSpec], wanted: str | None) -> tuple[OutputSpec, str]:
    """Returns (the eval output, why it was chosen).

    `wanted` is a signature name (output_0) or a Keras output name (score);
    without it the first output of the signature (sorted by name, as the
    converted model lists them) is used. Raises UsageError for an unknown name.
    """
    if not outputs:
        raise UsageError("the model's serving signature has no outputs to evaluate")
    if not wanted:
        return outputs[0], FIRST
    for output in outputs:
        if wanted in (output.name, output.alias):
            return output, CHOSEN
    names = ", ".join(o.label() for o in outputs)
    raise UsageError(f"--eval-output {wanted}: the model has no such output (it has {names})")
