"""`tfstudio compat`: models proven on named runtime releases, kept by sha256, and
used by preflight before any table."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.compat.conftest import RUNTIMES_DIR, TEST_RUNTIMES
from tfstudio.compat.proofs import ProofStore
from tfstudio.compat.venvs import parse_spec
from tfstudio.deploy import preflight
from tfstudio.errors import UsageError
from tfstudio.models.facts import inspect_model


def _compat(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tfstudio", "compat", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TFSTUDIO_RUNTIMES": str(RUNTIMES_DIR), **(env or {})},
    )


def _model(zoo, name):
    return next(m.path for m in zoo if m.path.name == name)


def test_a_matrix_over_three_runtimes_is_proven_then_read_back(zoo):
    models = [_model(zoo, "FULLY_CONNECTED.dynamic.tflite"), _model(zoo, "TILE.int16x8.tflite")]
    runtime_args = [a for r in TEST_RUNTIMES for a in ("--runtime", r)]
    first = _compat([*map(str, models), *runtime_args, "--json"])
    assert first.returncode == 1, first.stderr  # not everything runs everywhere
    rows = {
        (r["model"].rsplit("/", 1)[1], r["runtime"]): r for r in json.loads(first.stdout)["rows"]
    }
    assert len(rows) == 6 and not any(r["cached"] for r in rows.values())
    outcome = {key: r["ok"] for key, r in rows.items()}
    assert outcome == {
        ("FULLY_CONNECTED.dynamic.tflite", "tflite-runtime 2.14.0"): False,
        ("FULLY_CONNECTED.dynamic.tflite", "ai-edge-litert 1.0.1"): True,
        ("FULLY_CONNECTED.dynamic.tflite", "ai-edge-litert 2.3.0"): True,
        ("TILE.int16x8.tflite", "tflite-runtime 2.14.0"): False,
        ("TILE.int16x8.tflite", "ai-edge-litert 1.0.1"): False,
        ("TILE.int16x8.tflite", "ai-edge-litert 2.3.0"): True,
    }
    assert "FULLY_CONNECTED' version '12'" in rows[
        ("FULLY_CONNECTED.dynamic.tflite", "tflite-runtime 2.14.0")]["proof"]["error"]  # fmt: skip
    assert "INT16" in rows[("TILE.int16x8.tflite", "ai-edge-litert 1.0.1")]["proof"]["error"]
    # The measured table predicted each of them.
    assert all(r["table_ok"] == r["ok"] for r in rows.values())

    second = _compat([*map(str, models), *runtime_args])
    assert second.returncode == 1
    lines = [line for line in second.stdout.splitlines() if ".tflite" in line]
    assert len(lines) == 6 and all("kept" in line for line in lines), second.stdout
    assert "fails: load: Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'" in (
        second.stdout
    )
    assert second.stderr.count("running") == 0  # nothing ran again


def test_offline_it_names_the_missing_wheel(zoo, tmp_path):
    model = _model(zoo, "SOFTMAX.float32.tflite")
    offline = {
        "TFSTUDIO_RUNTIMES": str(tmp_path / "runtimes"),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_FIND_LINKS": "",
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "2",
    }
    proc = _compat([str(model), "--runtime", "tflite-runtime==2.9.1", "--json"], offline)
    assert proc.returncode == 1, proc.stderr
    [row] = json.loads(proc.stdout)["rows"]
    assert row["proof"] is None
    assert "the wheel tflite-runtime==2.9.1 is not here" in row["error"]
    assert "cannot be reached" in row["error"]
    assert "Traceback" not in proc.stderr
    assert not list((tmp_path / "runtimes").glob("tflite-runtime-2.9.1*"))


def test_a_badly_named_runtime_is_a_usage_error():
    for text in ("tflite-runtime", "tensorflow==2.21.0", "ai-edge-litert==../x"):
        with pytest.raises(UsageError):
            parse_spec(text)


def _info(name: str, version: str) -> dict:
    return {"runtime": {"name": name, "version": version}, "numpy": "2.0",
            "arch": "x86_64", "disk_free_bytes": 1 << 30}  # fmt: skip


def test_preflight_takes_a_proof_over_the_table_and_says_so(zoo, runtimes):
    # Random inputs in [-1, 1] (what a device's validation feeds) make RSQRT fail where the
    # measured table, fed positive values, has its int16 kernel running.
    model = _model(zoo, "RSQRT.int16x8.tflite")
    facts = inspect_model(model)
    from tfstudio.compat.prove import prove

    result = prove([model], [parse_spec("ai-edge-litert==2.3.0")], root=RUNTIMES_DIR)
    [row] = result.rows
    assert row.table_ok is True and row.proof is not None and not row.proof.ok
    assert "Rsqrt is only defined for positive values" in (row.proof.error or "")
    proof = ProofStore().get(facts.sha256, "ai-edge-litert", "2.3.0")
    assert proof == row.proof

    proven = preflight.check(facts, _info("ai-edge-litert", "2.3.0"), "cam", proof=proof)
    assert proven.basis == "proven on ai-edge-litert 2.3.0"
    assert [p.kind for p in proven.problems] == ["runtime_cannot_run"]
    with pytest.raises(Exception, match=r"refused before upload: .*\(proven on ai-edge-litert"):
        proven.raise_if_refused()
    # Another release, or no proof: the table, which says so.
    table = preflight.check(facts, _info("ai-edge-litert", "2.2.0"), "cam", proof=proof)
    assert table.ok and table.basis == "from the op table measured on ai-edge-litert 2.2.0"
    patch = preflight.check(facts, _info("ai-edge-litert", "2.1.6"), "cam")
    assert patch.basis == (
        "from the op table measured on ai-edge-litert 2.1.0 (the device runs ai-edge-litert 2.1.6)"
    )
    unmeasured = preflight.check(
        facts, {**_info("tensorflow", "2.21.0"), "runtime": {"name": "tensorflow",
                "version": "2.21.0", "compat_version": "2.21.0"}}, "cam")  # fmt: skip
    assert unmeasured.ok and unmeasured.basis == "from the op table (TensorFlow level 2.21.0)"


def test_deploy_refuses_before_upload_on_a_failed_proof(zoo, runtimes, capsys):
    from tfstudio.cli import main
    from tfstudio.compat.prove import prove

    # `local` runs the agent with this venv's runtime: ai-edge-litert 2.3.0.
    model = _model(zoo, "RSQRT.int16x8.tflite")
    prove([model], [parse_spec("ai-edge-litert==2.3.0")], root=RUNTIMES_DIR)
    capsys.readouterr()
    assert main(["deploy", str(model), "--to", "local", "--json"]) == 1
    printed = json.loads(capsys.readouterr().out)
    [result] = printed if isinstance(printed, list) else printed["results"]
    assert result["status"] == "refused" and result["bytes_sent"] == 0
    assert result["preflight"] == "proven on ai-edge-litert 2.3.0"
    assert "Rsqrt is only defined for positive values" in result["message"]


def test_the_agents_refusal_says_what_the_table_measured(zoo, runtimes, tmp_path):
    from edge_agent.errors import AgentError
    from edge_agent.tflite_schema import read_model_facts
    from edge_agent.validate import RuntimeChild, validate_model

    model = _model(zoo, "TILE.int16x8.tflite")
    child = RuntimeChild(tmp_path, serve=False, python=str(runtimes["ai-edge-litert 1.0.1"].python))
    with pytest.raises(AgentError) as exc:
        validate_model(model, read_model_facts(model), 120, child)
    assert exc.value.code == "invoke_failed"
    assert "Type 'INT16' is not supported by tile" in exc.value.message
    assert exc.value.message.endswith(
        "(measured on ai-edge-litert 1.0.1: TILE(int16,int32)->(int16): invoke: Type 'INT16' "
        "is not supported by tile)"
    )
