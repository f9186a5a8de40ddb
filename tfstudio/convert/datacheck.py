"""Checks on the values of representative and eval data, before any converter sees them.

Non-finite inputs crash the converter (inf) or calibrate a model that is not
what its mode says (all NaN); constant calibration data (all zeros, one sample
repeated) gives every activation a range of one point, and an int8 model that
answers the same class for everything (10% on the digits where float gets 98%);
labels outside the model's classes silently give 0% accuracy. Each check raises
a RepresentativeDataError that says what is wrong, with the statistic or how
many values are wrong and where the first one is.
"""

from __future__ import annotations

import numpy as np

from tfstudio.errors import RepresentativeDataError
from tfstudio.models.source import OutputSpec


def check_finite(values: np.ndarray, what: str) -> None:
    """Raises RepresentativeDataError when float `values` hold NaN or infinity.

    `what` names the data ("representative data rep.npy"); the message gives the
    count of each kind, how many samples hold them and the first index.
    """
    if values.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(values)
    count = int(bad.sum())
    if not count:
        return
    nan = int(np.isnan(values).sum())
    kinds = [f"NaN: {nan}"] if nan else []
    for label, hits in (("+inf", np.isposinf(values)), ("-inf", np.isneginf(values))):
        if hits.any():
            kinds.append(f"{label}: {int(hits.sum())}")
    per_sample = bad.reshape(bad.shape[0], -1).any(axis=1)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    raise RepresentativeDataError(
        f"{what} has {count} non-finite value{'s' if count != 1 else ''} of {values.size} "
        f"({', '.join(kinds)}) in {int(per_sample.sum())} of {values.shape[0]} samples; "
        f"the first at sample {first[0]}, index {first}",
        hint="remove or repair those samples: the converter crashes on infinity and "
        "calibrates nothing useful from NaN",
    )


NEAR_CONSTANT = 1e-6
"""Calibration values spanning less than this (relative to their magnitude, or absolute
below 1) carry no range to calibrate: float32 noise, not data."""

CALIBRATION_HINT = (
    "calibrate on real samples of what the model will see (a few hundred inputs from the "
    "training data): int8 scales computed from constant data quantize every real input "
    "to the same few values"
)


def check_spread(values: np.ndarray, what: str) -> None:
    """Raises RepresentativeDataError when float calibration `values` are (near) constant.

    Refused, each with its statistic: every value the same ("every value is 0.0"),
    values spanning less than NEAR_CONSTANT of their magnitude ("values span only
    2e-09, from 0.5 to 0.5"), or several samples that are all the same sample.
    """
    if values.dtype.kind != "f" or values.size == 0:
        return
    low, high = float(values.min()), float(values.max())
    span = high - low
    if span == 0.0:
        raise RepresentativeDataError(
            f"{what} is constant: every value is {low:g} ({values.size} values in "
            f"{values.shape[0]} samples)",
            hint=CALIBRATION_HINT,
        )
    if span < NEAR_CONSTANT * max(1.0, abs(low), abs(high)):
        raise RepresentativeDataError(
            f"{what} is nearly constant: values span only {span:.3g}, from {low:.7g} to "
            f"{high:.7g} (standard deviation {float(values.std()):.3g})",
            hint=CALIBRATION_HINT,
        )
    count = values.shape[0]
    if count > 1 and bool(np.all(values == values[:1])):
        raise RepresentativeDataError(
            f"{what}: all {count} samples are identical (each the same {values[0].size} "
            "values), so calibration sees a single input",
            hint=CALIBRATION_HINT,
        )


def check_calibration(inputs: dict[str, np.ndarray], what: str) -> None:
    """Runs `check_spread` on each float input of calibration data (named when several).

    Raises RepresentativeDataError."""
    for name, values in inputs.items():
        check_spread(values, what + (f" array '{name}'" if len(inputs) > 1 else ""))


def check_labels(y: np.ndarray, output: OutputSpec, what: str) -> np.ndarray:
    """Returns `y` (integer labels or one-hot rows) as int64 labels fit for `output`.

    `output` must be (N, classes): labels must lie in 0..classes-1 (0 or 1 for
    a single-unit output, which is scored with a 0.5 threshold), one-hot rows
    must be `classes` wide. Raises RepresentativeDataError naming the output.
    """
    label = output.label()
    if len(output.shape) != 2 or output.shape[1] is None:
        shape = "(" + ", ".join("N" if d is None else str(d) for d in output.shape) + ")"
        raise RepresentativeDataError(
            f"{what}: labels 'y' need an output of shape (N, classes), but output {label} "
            f"is {shape}",
            hint="choose another output with --eval-output, or leave 'y' out to compare "
            "with the float model only",
        )
    classes = int(output.shape[1])
    if y.ndim == 2:
        if y.shape[1] != classes:
            raise RepresentativeDataError(
                f"{what}: 'y' is one-hot with {y.shape[1]} columns, but output {label} has "
                f"{classes} classes"
            )
        return np.asarray(y.argmax(axis=1), dtype=np.int64)
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise RepresentativeDataError(
                f"{what}: 'y' holds non-integer labels (e.g. {_first_bad_float(y)})"
            )
    labels = y.astype(np.int64)
    top = max(classes, 2) - 1
    negative = np.flatnonzero(labels < 0)
    if negative.size:
        raise RepresentativeDataError(
            f"{what}: 'y' has {negative.size} negative label{'s' if negative.size != 1 else ''} "
            f"(the first at sample {int(negative[0])}: {int(labels[negative[0]])}); "
            f"output {label} has classes 0..{top}"
        )
    over = np.flatnonzero(labels > top)
    if over.size:
        raise RepresentativeDataError(
            f"{what}: 'y' has {over.size} label{'s' if over.size != 1 else ''} above {top} "
            f"(the largest is {int(labels.max())}, the first at sample {int(over[0])}); "
            f"output {label} has classes 0..{top}",
            hint="labels count from 0; pick the output they belong to with --eval-output",
        )
    return labels


def _first_bad_float(y: np.ndarray) -> float:
    bad = ~np.isfinite(y) | (y != np.round(np.nan_to_num(y)))
    return float(y[np.flatnonzero(bad)[0]])
