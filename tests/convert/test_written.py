"""What `convert` writes, and what it refuses to write: every model is invoked once; a
model and its manifest exist together or not at all, shared as the umask says; and
input that cannot make a useful model is one line, before any conversion."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tfstudio.atomic import write_files_atomic
from tfstudio.convert import ModesFailedError, convert
from tfstudio.convert.datacheck import check_calibration
from tfstudio.convert.diagnose import FLEX_HINT, converter_failure
from tfstudio.errors import OutputError, RepresentativeDataError, SourceModelError


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text
    return text


def test_a_model_no_runtime_can_run_is_a_failed_mode_with_the_runtimes_words(edge_models, tmp_path):
    # SQUARED_DIFFERENCE has no int16 kernel in any LiteRT release: it allocates, then
    # fails at its first invoke. No eval data: the invoke is convert's own.
    old = os.umask(0o022)
    try:
        with pytest.raises(ModesFailedError) as exc:
            convert(
                edge_models["squared_difference"],
                tmp_path,
                "float32,int16x8",
                rep_data=edge_models["data"] / "ab.npz",
            )
    finally:
        os.umask(old)
    result = exc.value.result
    assert [v.mode for v in result.variants] == ["float32"]
    [failed] = result.failures
    assert failed.mode == "int16x8"
    assert "SquaredDifference only supports FLOAT32 and INT32" in failed.error.message
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".tflite", ".json")) == [
        "squared_difference.float32.json",
        "squared_difference.float32.tflite",
    ]
    # What is written is meant to be shared: 0644 under the usual umask, not 0600.
    variant = result.variants[0]
    assert stat.S_IMODE(variant.path.stat().st_mode) == 0o644
    assert stat.S_IMODE(variant.manifest_path.stat().st_mode) == 0o644


def test_shared_files_follow_the_umask(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    old = os.umask(0o027)
    try:
        write_files_atomic([(out / "m.tflite", b"model"), (out / "m.json", b"{}")], shared=True)
    finally:
        os.umask(old)
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {
        "m.tflite": 0o640,
        "m.json": 0o640,
    }


def test_disk_full_between_model_and_manifest_leaves_neither(edge_models, small_tmpfs):
    out = small_tmpfs("4k")  # one page: the model (under 4 KiB) fits, its manifest not
    with pytest.raises(ModesFailedError) as exc:
        convert(edge_models["squared_difference"], out, "float32")
    [failed] = exc.value.result.failures
    assert "No space left on device" in failed.error.message
    assert isinstance(failed.error, OutputError)
    assert sorted(p.name for p in out.iterdir()) == []


def test_string_inputs_are_refused_naming_the_input(edge_models, tmp_path):
    with pytest.raises(SourceModelError) as exc:
        convert(edge_models["string_input"], tmp_path / "out", "float32")
    text = _one_line(exc.value)
    assert "input 'text'" in text and "string tensor" in text
    assert list((tmp_path / "out").iterdir()) == []


def test_flex_ops_get_the_select_tf_ops_hint():
    # TF 2.21's own text for a model with ExtractImagePatches (captured from the converter).
    text = (Path(__file__).parent / "data" / "tf_select_ops.txt").read_text()
    reason, hint = converter_failure(text)
    assert reason == "the model uses ops that TFLite builtins lack: ExtractImagePatches"
    assert hint == FLEX_HINT


def test_all_zero_calibration_data_is_refused_with_its_statistic(edge_models, tmp_path):
    rep = tmp_path / "rep.npy"
    np.save(rep, np.zeros((32, 4), np.float32))
    with pytest.raises(RepresentativeDataError) as exc:
        convert(edge_models["two_signatures"], tmp_path / "out", "float32,int8", rep_data=rep)
    text = _one_line(exc.value)
    assert text.startswith("representative data rep.npy is constant: every value is 0")
    assert "calibrate on real samples" in (exc.value.hint or "")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("near-constant", "is nearly constant: values span only 1.79e-07, from 0.5 to 0.5000002"),
        ("identical-samples", "all 32 samples are identical"),
        ("one-input-constant", "array 'b' is constant: every value is 3"),
    ],
)
def test_near_constant_calibration_data_is_refused(kind, expected):
    rng = np.random.default_rng(0)
    if kind == "near-constant":
        values = {"x": (0.5 + rng.integers(0, 4, size=(32, 4)) * 6e-8).astype(np.float32)}
    elif kind == "identical-samples":
        values = {"x": np.tile(rng.normal(size=(1, 4)), (32, 1)).astype(np.float32)}
    else:
        values = {"a": rng.normal(size=(8, 2)).astype(np.float32),
                  "b": np.full((8, 2), 3.0, np.float32)}  # fmt: skip
    with pytest.raises(RepresentativeDataError, match=expected):
        check_calibration(values, "representative data rep.npz")


def test_real_calibration_data_passes():
    rng = np.random.default_rng(0)
    check_calibration({"x": rng.normal(size=(32, 4)).astype(np.float32)}, "rep")
    # Integer inputs (token ids) are not calibrated: a constant one is no reason to refuse.
    check_calibration({"tokens": np.zeros((8, 5), np.int32)}, "rep")


def _loop(tmp_path: Path, name: str) -> Path:
    a, b = tmp_path / f"{name}-a", tmp_path / f"{name}-b"
    a.symlink_to(b)
    b.symlink_to(a)
    return a


def test_symlink_loops_are_one_line_errors(edge_models, tmp_path):
    source = edge_models["two_signatures"]
    rep = edge_models["data"] / "x4.npy"
    with pytest.raises(SourceModelError, match="symbolic links"):
        convert(_loop(tmp_path, "model"), tmp_path / "o1", "float32")
    with pytest.raises(RepresentativeDataError, match="symbolic links"):
        convert(source, tmp_path / "o2", "int8", rep_data=_loop(tmp_path, "rep"))
    with pytest.raises(RepresentativeDataError, match="symbolic links"):
        convert(source, tmp_path / "o3", "float32", rep_data=rep, eval_data=_loop(tmp_path, "ev"))
    with pytest.raises(OutputError, match="symbolic links"):
        convert(source, _loop(tmp_path, "out"), "float32")
    proc = subprocess.run(
        [sys.executable, "-m", "tfstudio", "convert", str(tmp_path / "model-a"), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "symbolic links" in proc.stderr
    assert json.loads(proc.stdout)["type"] == "SourceModelError"
