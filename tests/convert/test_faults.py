"""Bad input to the conversion core: one clear error, raised before any file is written."""

from __future__ import annotations

import shutil
import zipfile

import numpy as np
import pytest

from tfstudio.convert import convert
from tfstudio.errors import (
    CancelledError,
    ConversionError,
    OutputError,
    RepresentativeDataError,
    SourceModelError,
    UsageError,
)
from tfstudio.operations import CancelToken, TargetFinished

# Every test here converts: the full tier (tests/plugins/tiers.py).
pytestmark = pytest.mark.usefixtures("tensorflow_child")


def _files(directory):
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def _one_line(exc_info):
    text = str(exc_info.value)
    assert "\n" not in text and text
    return text


def test_missing_rep_data_fails_before_anything(digits, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RepresentativeDataError) as exc:
        convert(digits.model, out, "float32,int8,int16x8")
    assert "int8, int16x8 need representative data; nothing was converted" in _one_line(exc)
    assert "--rep-data" in str(exc.value)
    assert not out.exists()


def test_wrong_rep_data_shape_names_both_shapes(digits, tmp_path):
    bad = tmp_path / "rep.npy"
    np.save(bad, np.zeros((10, 8, 8, 3), np.float32))
    out = tmp_path / "out"
    with pytest.raises(RepresentativeDataError) as exc:
        convert(digits.model, out, "float32,int8", rep_data=bad)
    assert "has shape (10, 8, 8, 3); the model's input 'image' expects (N, 8, 8, 1)" in (
        _one_line(exc)
    )
    assert _files(out) == []


def test_wrong_eval_data_is_caught_before_converting(digits, tmp_path):
    bad = tmp_path / "eval.npz"
    np.savez(bad, x=np.zeros((10, 64), np.float32))
    out = tmp_path / "out"
    with pytest.raises(RepresentativeDataError, match=r"eval data eval.npz has shape \(10, 64\)"):
        convert(digits.model, out, "float32", eval_data=bad)
    assert _files(out) == []


def test_corrupt_saved_model(mlp, tmp_path):
    broken = tmp_path / "broken_sm"
    shutil.copytree(mlp.saved_model, broken)
    (broken / "saved_model.pb").write_bytes(b"\x08\x01garbage" * 50)
    out = tmp_path / "out"
    with pytest.raises(SourceModelError) as exc:
        convert(broken, out, "float32")
    assert "is a corrupt SavedModel (saved_model.pb cannot be parsed)" in _one_line(exc)
    assert _files(out) == []


def test_directory_that_is_not_a_saved_model(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "model.txt").write_text("hello")
    with pytest.raises(SourceModelError, match="is a directory but not a SavedModel"):
        convert(folder, tmp_path / "out")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.txt", b"just text", "is not a model tfstudio can convert"),
        ("model.keras", b"PK not really a zip", "is not a valid .keras file"),
        ("model.h5", b"not hdf5 at all", "is not a valid .h5 file"),
    ],
)
def test_non_model_files(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    out = tmp_path / "out"
    with pytest.raises(SourceModelError, match=message) as exc:
        convert(path, out)
    _one_line(exc)
    assert _files(out) == []


def test_truncated_and_foreign_keras_files(digits, tmp_path):
    data = digits.model.read_bytes()
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceModelError) as exc:
        convert(truncated, tmp_path / "out")
    assert "truncated.keras" in _one_line(exc)
    foreign = tmp_path / "foreign.keras"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("readme.txt", "a zip, but not a Keras model")
    with pytest.raises(SourceModelError) as exc:
        convert(foreign, tmp_path / "out")
    assert "cannot load foreign.keras as a Keras model" in _one_line(exc)
    assert _files(tmp_path / "out") == []


def test_missing_source(tmp_path):
    with pytest.raises(SourceModelError, match="does not exist"):
        convert(tmp_path / "nope.keras", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_output_directory_that_cannot_be_created(digits, tmp_path):
    # Tests run as root, so permissions would not stop the write: a regular
    # file in the parent's place stops root as well.
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    with pytest.raises(OutputError) as exc:
        convert(digits.model, blocker / "out")
    assert "cannot create output directory" in _one_line(exc)
    with pytest.raises(OutputError, match="exists and is not a directory"):
        convert(digits.model, blocker)
    assert blocker.read_text() == "a file, not a directory"


def test_unknown_mode_is_a_usage_error(digits, tmp_path):
    with pytest.raises(UsageError, match="unknown quantization mode 'int4'"):
        convert(digits.model, tmp_path / "out", "float32,int4")
    assert not (tmp_path / "out").exists()


def test_cancel_between_modes_keeps_finished_models_only(digits, tmp_path):
    cancel = CancelToken()

    def progress(event):
        if isinstance(event, TargetFinished):
            cancel.set()

    out = tmp_path / "out"
    with pytest.raises(CancelledError, match="cancelled after 1 of 3 modes"):
        convert(digits.model, out, "float32,dynamic,float16", on_event=progress, cancel=cancel)
    assert _files(out) == ["digits.float32.json", "digits.float32.tflite"]


def test_cancel_before_start_writes_nothing(digits, tmp_path):
    cancel = CancelToken()
    cancel.set()
    out = tmp_path / "out"
    with pytest.raises(CancelledError, match="after 0 of 1"):
        convert(digits.model, out, cancel=cancel)
    assert _files(out) == []


def test_rep_data_is_checked_even_when_no_mode_needs_it(digits, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RepresentativeDataError, match="absent.npy does not exist"):
        convert(digits.model, out, "float32", rep_data=tmp_path / "absent.npy")
    assert _files(out) == []


def test_converter_failure_names_the_unsupported_op(tmp_path):
    import tensorflow as tf

    class Svd(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4, 4], tf.float32, name="x")])
        def __call__(self, x):
            return {"s": tf.linalg.svd(x, compute_uv=False)}

    module = Svd()
    source = tmp_path / "svd"
    tf.saved_model.save(module, str(source), signatures={"serving_default": module.__call__})
    out = tmp_path / "out"
    with pytest.raises(ConversionError) as exc:
        convert(source, out, "float32")
    assert exc.value.message == (
        "float32: the converter failed: the model uses ops that TFLite builtins lack: Svd"
    )
    assert "--select-tf-ops" in exc.value.hint
    assert _files(out) == []
