"""`--keep` never costs the rollback target: pruning runs after the health gate, as its own step."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fleet.conftest import FAST_BENCH, Lab, listing
from tfstudio.cli import main
from tfstudio.fleet.registry import get_device
from tfstudio.models.facts import inspect_model


def _sha(path: Path) -> str:
    return inspect_model(path).sha256


def test_keep_one_with_a_failing_gate_still_rolls_back(
    lab: Lab, tiny_models: dict[str, Path], capsys
) -> None:
    lab.add("keepgate", server=0)
    good, slow = tiny_models["float32"], tiny_models["int8"]
    assert main(["deploy", str(good), "--to", "keepgate", "--json"]) == 0
    capsys.readouterr()
    argv = ["deploy", str(slow), "--to", "keepgate", "--keep", "1", "--max-p99-ms", "0.000001"]
    assert main([*argv, *FAST_BENCH, "--json"]) == 1
    (result,) = json.loads(capsys.readouterr().out)
    assert result["status"] == "rolled_back", result["message"]
    assert result["active"] == _sha(good)
    stored = listing(get_device("keepgate"))
    assert stored["active"] == _sha(good)
    # Nothing is pruned by a deploy whose gate failed: the rollback target survived.
    assert {m["sha256"] for m in stored["models"]} == {_sha(good), _sha(slow)}


def test_keep_one_keeps_the_active_model_and_its_rollback_target(
    lab: Lab, tiny_models: dict[str, Path], capsys
) -> None:
    lab.add("keepone", server=1)
    models = [tiny_models[m] for m in ("float32", "float16", "int8")]
    for model in models:
        assert main(["deploy", str(model), "--to", "keepone", "--keep", "1", "--json"]) == 0
        (result,) = json.loads(capsys.readouterr().out)
        assert result["status"] == "ok", result["message"]
    stored = listing(get_device("keepone"))
    assert stored["active"] == _sha(models[2])
    assert stored["previous"] == _sha(models[1])
    assert {m["sha256"] for m in stored["models"]} == {_sha(models[1]), _sha(models[2])}
    assert result["pruned"] == [_sha(models[0])]
    assert main(["rollback", "keepone", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["active"] == _sha(models[1])


def test_prune_command_frees_space_but_keeps_active_and_rollback_target(
    lab: Lab, tiny_models: dict[str, Path], capsys
) -> None:
    lab.add("pruner", server=2)
    models = [tiny_models[m] for m in ("float32", "float16", "int8", "dynamic")]
    for model in models:
        assert main(["deploy", str(model), "--to", "pruner", "--json"]) == 0
    capsys.readouterr()
    assert main(["prune", "pruner", "--keep", "1", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert set(answer["removed"]) == {_sha(models[0]), _sha(models[1])}
    assert answer["freed_bytes"] > 0
    stored = listing(get_device("pruner"))
    assert {m["sha256"] for m in stored["models"]} == {_sha(models[2]), _sha(models[3])}
    assert main(["prune", "pruner", "--keep", "1"]) == 0
    assert "nothing to remove" in capsys.readouterr().out
