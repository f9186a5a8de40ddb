"""Loading representative and eval data, checked against the model's input."""

from __future__ import annotations

import numpy as np
import pytest

from tfstudio.convert.repdata import load_samples
from tfstudio.errors import RepresentativeDataError
from tfstudio.models.source import InputSpec

DIGITS = InputSpec("image", (None, 8, 8, 1), "float32")
RGB = InputSpec("input", (None, 32, 24, 3), "float32")


def test_npy_is_cast_to_the_input_dtype(tmp_path):
    path = tmp_path / "rep.npy"
    np.save(path, np.ones((5, 8, 8, 1), dtype=np.float64))
    samples = load_samples(path, DIGITS, "representative data", labels=False)
    assert samples.inputs["image"].dtype == np.float32 and len(samples) == 5
    assert samples.y is None


def test_npz_with_labels_and_one_hot(tmp_path):
    path = tmp_path / "eval.npz"
    y = np.eye(10)[[1, 2, 3]]
    np.savez(path, x=np.zeros((3, 8, 8, 1), np.float32), y=y)
    samples = load_samples(path, DIGITS, "eval data", labels=True)
    # One-hot rows are kept as given; they are checked against the eval output's width later.
    assert samples.y.argmax(axis=1).tolist() == [1, 2, 3]


def test_image_directory_is_resized_and_scaled(image_dir):
    samples = load_samples(image_dir, RGB, "representative data", labels=False)
    x = samples.inputs["input"]
    assert x.shape == (12, 32, 24, 3)
    assert x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert x.max() > 0.5  # scaled from 0..255, not left at 0..1/255


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((5, 8, 8), np.float32), r"shape \(5, 8, 8\); .* expects \(N, 8, 8, 1\)"),
        (np.zeros((5, 28, 28, 1), np.float32), r"shape \(5, 28, 28, 1\)"),
        (np.zeros((0, 8, 8, 1), np.float32), "holds no samples"),
        (np.array([["a"] * 8] * 8)[None, ..., None], "dtype <U1; .* expects float32"),
    ],
)
def test_data_that_does_not_fit_names_expected_and_actual(tmp_path, array, message):
    path = tmp_path / "rep.npy"
    np.save(path, array)
    with pytest.raises(RepresentativeDataError, match=message):
        load_samples(path, DIGITS, "representative data", labels=False)


def test_unreadable_or_unknown_data(tmp_path, image_dir):
    npz = tmp_path / "no_x.npz"
    np.savez(npz, images=np.zeros((1, 8, 8, 1)))
    with pytest.raises(
        RepresentativeDataError, match="has no array 'x' or 'image' \\(found images\\)"
    ):
        load_samples(npz, DIGITS, "representative data", labels=False)
    junk = tmp_path / "junk.npy"
    junk.write_bytes(b"not numpy at all")
    with pytest.raises(RepresentativeDataError, match="cannot read representative data"):
        load_samples(junk, DIGITS, "representative data", labels=False)
    csv = tmp_path / "data.csv"
    csv.write_text("1,2,3")
    with pytest.raises(RepresentativeDataError, match="not a .npy file"):
        load_samples(csv, DIGITS, "representative data", labels=False)
    with pytest.raises(RepresentativeDataError, match="does not exist"):
        load_samples(tmp_path / "absent.npy", DIGITS, "eval data", labels=True)
    with pytest.raises(RepresentativeDataError, match="has no PNG or JPEG"):
        load_samples(tmp_path, DIGITS, "representative data", labels=False)
    flat = InputSpec("x", (None, 20), "float32")
    with pytest.raises(RepresentativeDataError, match=r"is \(N, 20\), not \(N, height, width"):
        load_samples(image_dir, flat, "representative data", labels=False)


def test_labels_must_match_the_samples(tmp_path):
    path = tmp_path / "eval.npz"
    np.savez(path, x=np.zeros((3, 8, 8, 1), np.float32), y=np.array([1, 2]))
    with pytest.raises(RepresentativeDataError, match="'y' must hold 3 integer labels or one-hot"):
        load_samples(path, DIGITS, "eval data", labels=True)


def test_truncated_npz_is_a_clear_error(tmp_path):
    whole = tmp_path / "whole.npz"
    np.savez(whole, x=np.zeros((50, 8, 8, 1), np.float32))
    cut = tmp_path / "cut.npz"
    cut.write_bytes(whole.read_bytes()[:3000])
    with pytest.raises(RepresentativeDataError, match="cannot read eval data") as exc:
        load_samples(cut, DIGITS, "eval data", labels=True)
    assert "\n" not in str(exc.value)


def test_npz_may_name_the_single_input_instead_of_x(tmp_path):
    path = tmp_path / "rep.npz"
    np.savez(path, image=np.ones((4, 8, 8, 1), np.float32))
    assert len(load_samples(path, DIGITS, "representative data", labels=False)) == 4


def test_calibration_batches_are_keyed_by_input_name_and_fill_a_static_batch(tmp_path):
    from tfstudio.convert.repdata import calibration_batches

    path = tmp_path / "rep.npy"
    np.save(path, np.arange(7 * 64, dtype=np.float32).reshape(7, 8, 8, 1))
    samples = load_samples(path, DIGITS, "representative data", labels=False)
    singles = calibration_batches(samples)
    assert len(singles) == 7 and singles[0]["image"].shape == (1, 8, 8, 1)
    threes = calibration_batches(samples, 3)
    assert [b["image"].shape[0] for b in threes] == [3, 3, 3]
    # The last batch is filled up from the first samples.
    assert threes[-1]["image"][1, 0, 0, 0] == 0.0
