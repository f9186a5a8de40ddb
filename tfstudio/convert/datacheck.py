"""Checks on the values of representative and eval data, before any converter sees them.

Non-finite inputs crash the converter (inf) or calibrate a model that is not
what its mode says (all NaN); labels outside the model's classes silently give
0% accuracy. Each check raises a RepresentativeDataError that says how many
values are wrong and where the first one is.
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
