"""On-device evaluation of a real digits model on sshd devices, beside the host's figure.

The new-runtime device (ai-edge-litert) agrees with the host within the
tolerance; the old one (tflite-runtime 2.14) runs the float32 and int8
variants and refuses the dynamic-range one by name. Eval data is sent once and
kept by hash. `deploy --eval-data --min-accuracy` rolls back below the bar.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.fleet.conftest import Lab, listing
from tests.helpers.digits import Digits, write_manifest
from tfstudio.cli import main
from tfstudio.fleet import deploylog
from tfstudio.fleet.registry import get_device
from tfstudio.measure import log


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


def test_new_runtime_agrees_with_the_host(lab: Lab, digits: Digits, capsys) -> None:
    lab.add("neweval")
    model = digits.models["int8"]
    args = ["eval", str(model), "--on", "neweval", "--eval-data", str(digits.eval_npz), "--json"]
    assert main(args) == 0
    run = _json(capsys)
    assert run["data"]["samples"] == 450 and run["data"]["labelled"] is True
    host = run["host"]
    assert host["source"] == "host" and host["accuracy"] > 0.85
    (device,) = run["devices"]
    assert device["ok"] and device["drift"] is False and device["drift_reasons"] == []
    figures = device["figures"]
    assert figures["samples"] == 450 and figures["runtime"].startswith("ai-edge-litert")
    assert figures["accuracy"] == pytest.approx(host["accuracy"], abs=0.01)
    assert device["host_agreement"] >= 0.99
    assert device["bytes_sent"] >= digits.eval_npz.stat().st_size  # data and model went over

    assert main(args) == 0  # again: the model and the data are already there
    again = _json(capsys)["devices"][0]
    assert again["bytes_sent"] == 0 and again["figures"]["accuracy"] == figures["accuracy"]
    entries = [e for e in log.read(log.EVALS) if e["device"] == "neweval"]
    assert len(entries) == 2 and entries[-1]["device_figures"]["accuracy"] == figures["accuracy"]

    assert main(args[:-1]) == 0
    out = capsys.readouterr().out
    assert "neweval" in out and "ok" in out and "host accuracy (host)" in out


def test_old_runtime_runs_what_it_can_load(lab: Lab, digits: Digits, capsys) -> None:
    lab.add("oldeval", python="old-device")
    host_scores = {}
    for mode in ("float32", "int8"):
        argv = ["eval", str(digits.models[mode]), "--on", "oldeval",
                "--eval-data", str(digits.eval_npz), "--json"]  # fmt: skip
        assert main(argv) == 0
        run = _json(capsys)
        (device,) = run["devices"]
        assert device["figures"]["runtime"] == "tflite-runtime 2.14.0"
        assert device["figures"]["accuracy"] == pytest.approx(run["host"]["accuracy"], abs=0.01)
        assert device["drift"] is False
        host_scores[mode] = run["host"]["accuracy"]
    assert host_scores["float32"] == pytest.approx(digits.keras_accuracy, abs=0.01)

    argv = ["eval", str(digits.models["dynamic"]), "--on", "oldeval",
            "--eval-data", str(digits.eval_npz)]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "FULLY_CONNECTED" in err and "tflite-runtime 2.14.0" in err
    assert "eval failed on: oldeval" in err and "Traceback" not in err


def test_unlabelled_data_is_compared_with_the_float_model(lab: Lab, digits: Digits, capsys) -> None:
    lab.add("refeval")
    argv = ["eval", str(digits.models["int8"]), "--on", "refeval,local",
            "--eval-data", str(digits.unlabelled_npz), "--json"]  # fmt: skip
    assert main(argv) == 0
    run = _json(capsys)
    assert run["data"]["reference"] is True and run["data"]["labelled"] is False
    assert Path(run["data"]["reference_model"]).name == "digits.float32.tflite"
    for device in run["devices"]:
        assert device["ok"] and device["figures"]["accuracy"] is None
        assert device["figures"]["top1_agreement"] >= 0.95
        assert device["figures"]["max_abs_error"] < 0.2
    # The package (x + the float model's outputs) is cached: same sha, nothing re-sent.
    assert main(argv) == 0
    again = _json(capsys)
    assert again["data"]["sha256"] == run["data"]["sha256"]
    assert all(d["bytes_sent"] == 0 for d in again["devices"] if d["device"] == "refeval")

    bare = digits.unlabelled_npz.with_name("lonely.npz")
    bare.write_bytes(digits.unlabelled_npz.read_bytes())
    lonely = bare.with_name("lonely.int8.tflite")
    lonely.write_bytes(digits.models["int8"].read_bytes())
    assert main(["eval", str(lonely), "--on", "refeval", "--eval-data", str(bare)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no labels (y)" in err[0] and "--reference" in err[0]


def test_host_figure_falls_back_to_the_convert_manifest(
    lab: Lab, digits: Digits, tmp_path: Path, monkeypatch, capsys
) -> None:
    lab.add("maneval")
    model = tmp_path / "digits.int8.tflite"
    model.write_bytes(digits.models["int8"].read_bytes())
    write_manifest(model, 0.5, 450)  # a host figure far from the device's: drift
    # No runtime here: the host's agent runs on Debian's bare Python (no numpy, no LiteRT).
    monkeypatch.setattr(sys, "executable", "/usr/bin/python3")
    argv = ["eval", str(model), "--on", "maneval", "--eval-data", str(digits.eval_npz), "--json"]
    assert main(argv) == 3  # drift
    run = _json(capsys)
    assert run["host"]["source"] == "convert manifest" and run["host"]["accuracy"] == 0.5
    (device,) = run["devices"]
    assert (
        device["drift"] is True
        and "vs 0.5000 on the convert manifest" in device["drift_reasons"][0]
    )


def test_deploy_gate_rolls_back_below_min_accuracy(lab: Lab, digits: Digits, capsys) -> None:
    lab.add("gate")
    data = str(digits.eval_npz)
    assert main(["deploy", str(digits.models["float32"]), "--to", "gate", "--json"]) == 0
    capsys.readouterr()
    ok = ["deploy", str(digits.models["int8"]), "--to", "gate", "--eval-data", data,
          "--min-accuracy", "0.5", "--json"]  # fmt: skip
    assert main(ok) == 0
    (result,) = _json(capsys)
    assert result["status"] == "ok" and "health gate ok" in result["message"]
    assert result["eval"]["accuracy"] > 0.85 and result["eval"]["drift"] is False
    assert result["eval"]["host"]["source"] == "host"
    assert result["bench"] is None  # the eval alone is the gate

    strict = ["deploy", str(digits.models["float16"]), "--to", "gate", "--eval-data", data,
              "--min-accuracy", "0.999"]  # fmt: skip
    assert main(strict) == 1
    captured = capsys.readouterr()
    assert "rolled_back" in captured.out and "below --min-accuracy 0.999" in captured.out
    active = [m for m in listing(get_device("gate"))["models"] if m["active"]]
    assert active[0]["name"] == "digits.int8.tflite"
    logged = deploylog.read("gate")
    assert logged[-1]["result"] == "rolled_back" and logged[-1]["eval"]["accuracy"] < 0.999
    assert [e.get("via") for e in log.read(log.EVALS)] == ["deploy", "deploy"]


def test_bad_eval_data_stops_the_deploy_before_any_device(
    lab: Lab, digits: Digits, tmp_path: Path, capsys
) -> None:
    import numpy as np

    lab.add("baddata", install=False)  # not even reachable with an agent: never touched
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((10, 8, 8), np.float32), y=np.zeros(10, np.int64))
    argv = ["deploy", str(digits.models["int8"]), "--to", "baddata", "--eval-data", str(bad)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.strip().splitlines()
    assert "x has shape (10, 8, 8); digits.int8.tflite takes (N, 64)" in line
    assert main(["deploy", str(digits.models["int8"]), "--to", "baddata",
                 "--min-accuracy", "0.9"]) == 2  # fmt: skip
    assert "--min-accuracy and --eval-reference need --eval-data" in capsys.readouterr().err
