"""eval: accuracy and agreement on the device's own runtime, bad data refused in one line,
and the old tflite-runtime 2.14 device running what it can load."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.agent.test_server import direct


@pytest.fixture(scope="module")
def labelled(tiny_models, tmp_path_factory) -> dict:
    """200 samples labelled by the float MLP itself, with 30 labels flipped (85% accurate)."""
    rng = np.random.default_rng(11)
    x = rng.random((200, 64), dtype=np.float32)
    outputs = np.concatenate([direct(tiny_models["float32"], x[i : i + 1]) for i in range(200)])
    y = outputs.argmax(axis=1)
    y[:30] = (y[:30] + 1) % 10
    out = tmp_path_factory.mktemp("eval-data")
    path = out / "eval.npz"
    np.savez(path, x=x, y=y)
    unlabelled = out / "ref.npz"
    np.savez(unlabelled, x=x, reference=outputs)
    return {"path": path, "x": x, "y": y, "outputs": outputs, "unlabelled": unlabelled}


def test_accuracy_on_labelled_data(agent, agent_home, tiny_models, labelled) -> None:
    sha = hashlib.sha256(labelled["path"].read_bytes()).hexdigest()
    run = agent("eval", str(labelled["path"]), "--model", str(tiny_models["float32"]),
                "--sha256", sha, "--top1", "--json")  # fmt: skip
    assert run.rc == 0, run.stdout + run.stderr
    report = run.json
    assert report["accuracy"] == pytest.approx(170 / 200) and report["correct"] == 170
    assert report["data"] == {
        "path": str(labelled["path"]),
        "sha256": sha,
        "samples": 200,
        "labelled": True,
        "reference": False,
    }
    assert report["top1"] == labelled["outputs"].argmax(axis=1).tolist()
    assert report["runtime"]["name"] == "ai-edge-litert"
    assert report["loop_ms"] > 0 and report["per_sample_ms"] == pytest.approx(
        report["loop_ms"] / 200, rel=1e-3
    )
    logged = json.loads((agent_home / "reports" / "eval.jsonl").read_text().splitlines()[-1])
    assert logged["accuracy"] == report["accuracy"] and "top1" not in logged


def test_int8_model_is_scored_in_real_units(agent, tiny_models, labelled, tmp_path) -> None:
    run = agent("eval", str(labelled["unlabelled"]), "--model", str(tiny_models["int8"]),
                "--outputs-to", str(tmp_path / "out.npy"), "--json")  # fmt: skip
    assert run.rc == 0, run.stdout
    report = run.json
    # int8 against the float model's own outputs: near, not equal.
    assert 0.8 <= report["top1_agreement"] <= 1.0
    assert 0 < report["max_abs_error"] < 0.2 and report["mean_abs_error"] < report["max_abs_error"]
    saved = np.load(tmp_path / "out.npy")
    assert saved.shape == (200, 10) and saved.dtype == np.float32
    assert np.abs(saved - labelled["outputs"]).max() == pytest.approx(report["max_abs_error"])


def test_active_model_and_one_hot_labels(agent, tiny_models, labelled, tmp_path) -> None:
    assert agent("install", str(tiny_models["float32"]), "--name", "mlp", "--json").rc == 0
    one_hot = np.eye(10, dtype=np.float32)[labelled["y"]]
    path = tmp_path / "onehot.npz"
    np.savez(path, x=labelled["x"], y=one_hot)
    run = agent("eval", str(path), "--json")
    assert run.rc == 0 and run.json["model"]["name"] == "mlp"
    assert run.json["accuracy"] == pytest.approx(0.85)
    human = agent("eval", str(path))
    assert human.rc == 0 and "mlp on 200 samples, accuracy 0.8500" in human.stdout


def _pickled_npz(path: Path) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", buffer.getvalue())


@pytest.mark.parametrize(
    "case, code, words",
    [
        ("wrong_shape", "bad_input", "has shape (5, 3)"),
        ("no_x", "bad_input", "the file has labels"),
        ("pickled", "bad_input", "not a readable .npy or .npz"),
        ("truncated", "bad_input", "not a readable .npy or .npz"),
        ("bad_labels", "bad_input", "expected 200 class indices"),
        ("nan", "bad_input", "NaN or infinity"),
        ("sha", "sha256_mismatch", "sha256 is"),
    ],
)
def test_bad_data_is_one_line(agent, tiny_models, labelled, tmp_path, case, code, words) -> None:
    path = tmp_path / "bad.npz"
    extra: list[str] = []
    if case == "wrong_shape":
        np.savez(path, x=np.zeros((5, 3), np.float32))
    elif case == "no_x":
        np.savez(path, labels=labelled["y"])
    elif case == "pickled":
        _pickled_npz(path)
    elif case == "truncated":
        path.write_bytes(labelled["path"].read_bytes()[:500])
    elif case == "bad_labels":
        np.savez(path, x=labelled["x"], y=labelled["y"][:50])
    elif case == "nan":
        x = labelled["x"].copy()
        x[3, 3] = np.nan
        np.savez(path, x=x, y=labelled["y"])
    else:
        path.write_bytes(labelled["path"].read_bytes())
        extra = ["--sha256", "0" * 64]
    run = agent("eval", str(path), "--model", str(tiny_models["float32"]), *extra, "--json")
    assert run.rc == 1 and run.json["code"] == code, run.stdout
    assert words in run.json["error"]
    human = agent("eval", str(path), "--model", str(tiny_models["float32"]), *extra)
    assert human.rc == 1 and len(human.stderr.strip().splitlines()) == 1
    assert "Traceback" not in human.stderr


def test_old_device_runs_what_it_can_load(agent, tiny_models, labelled, device_venvs) -> None:
    old = device_venvs["old-device"]
    scores = {}
    for mode in ("float32", "int8", "float16"):
        run = agent("eval", str(labelled["path"]), "--model", str(tiny_models[mode]), "--json",
                    python=old)  # fmt: skip
        assert run.rc == 0, run.stdout + run.stderr
        assert run.json["runtime"] == {
            "name": "tflite-runtime", "version": "2.14.0", "compat_version": "2.14.0",
        }  # fmt: skip
        scores[mode] = run.json["accuracy"]
    assert scores["float32"] == pytest.approx(0.85)
    new = agent("eval", str(labelled["path"]), "--model", str(tiny_models["int8"]), "--json")
    assert new.json["accuracy"] == pytest.approx(scores["int8"], abs=0.01)

    refused = agent("eval", str(labelled["path"]), "--model", str(tiny_models["dynamic"]),
                    "--json", python=old)  # fmt: skip
    assert refused.rc == 1 and refused.json["code"] == "runtime_too_old"
    assert (
        "FULLY_CONNECTED" in refused.json["error"]
        and "tflite-runtime 2.14.0" in refused.json["error"]
    )
