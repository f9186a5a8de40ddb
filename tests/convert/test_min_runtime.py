"""The minimum runtime is computed from every op of every subgraph, from a table kept as data.

The table (edge_agent/op_runtime_table.py) is LiteRT's runtime_version.cc as
the installed TensorFlow answers it; real models converted in every mode must
hold no op version the table lacks, so a newer converter fails these tests
instead of letting a too-new model through as "old".
"""

from __future__ import annotations

import struct
import subprocess
import sys

import pytest

from edge_agent.min_runtime import is_custom, op_runtime
from edge_agent.tflite_schema import _Reader, read_model_facts
from tests.conftest import REPO
from tfstudio.deploy import preflight
from tfstudio.models.facts import inspect_model

DEVICE_2_21 = {
    "runtime": {"name": "ai-edge-litert", "version": "2.3.0", "compat_version": "2.21.0"},
    "numpy": "2.0.0",
    "arch": "x86_64",
    "disk_free_bytes": 1 << 30,
}


@pytest.mark.usefixtures("tensorflow_runtime")  # the script reads TensorFlow's table
def test_table_is_the_installed_tensorflows_runtime_version_table():
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_op_runtime_table.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def test_int16x8_needs_what_its_ops_need_not_what_its_metadata_claims(digits_all):
    result, _ = digits_all
    facts = result.variant("int16x8").facts
    # The converter's own metadata claims 1.11.0 for CONV_2D v3 / FULLY_CONNECTED v4.
    assert facts.metadata_min_runtime_version == "1.11.0"
    assert {(o.name, o.version) for o in facts.ops} >= {("CONV_2D", 3), ("FULLY_CONNECTED", 4)}
    assert facts.min_runtime_version == "1.14.0"
    assert facts.min_runtime_set_by in ("CONV_2D v3", "FULLY_CONNECTED v4")
    manifest = result.variant("int16x8").manifest_path.read_text()
    assert '"min_runtime_version": "1.14.0"' in manifest
    assert '"metadata_version": "1.11.0"' in manifest


def _builtin_ops(paths):
    found = {}
    for path in paths:
        for op in read_model_facts(path).ops:
            if not is_custom(op.name):
                found.setdefault((op.name, op.version), path.name)
    return found


def test_every_op_version_of_real_models_in_every_mode_is_in_the_table(
    digits_all, mobilenet_all, lstm_fixed, heads_converted
):
    result, _ = digits_all
    paths = [v.path for v in result.variants] + [v.path for v in mobilenet_all.variants]
    # A recurrent model brings WHILE and its body subgraph; several heads bring more.
    paths += [v.path for v in lstm_fixed.variants] + [v.path for v in heads_converted.variants]
    assert len(result.variants) == 5 and len(mobilenet_all.variants) == 2
    ops = _builtin_ops(paths)
    assert ("WHILE", 1) in ops and ("DEPTHWISE_CONV_2D", 1) in ops
    missing = {op: where for op, where in ops.items() if op_runtime(*op) is None}
    assert missing == {}, f"op versions the runtime table lacks (update it): {missing}"
    for path in paths:
        facts = inspect_model(path)
        assert facts.unknown_ops == []
        assert facts.min_runtime_version is not None


def test_ops_of_every_subgraph_count(lstm_fixed):
    facts = lstm_fixed.variant("float32").facts
    assert len(facts.subgraphs) == 3  # main, while_cond, while_body
    counts = {op.name: op.count for op in facts.ops}
    body = facts.subgraphs[2].ops
    # The recurrent cell's math lives in the loop body only: counted there too.
    assert body.get("MUL", 0) > 0 and counts["MUL"] >= body["MUL"]
    assert all(op.count > 0 for op in facts.ops), facts.ops
    assert sum(counts.values()) == sum(g.operators for g in facts.subgraphs)


def _patch_opcode_version(data: bytes, name: str, version: int) -> bytes:
    """Rewrites the stored version of operator code `name` in a real flatbuffer."""
    reader = _Reader(data)
    model = reader.deref(0)
    for code in reader.tables(model, 1):
        builtin = reader.scalar(code, 3, "i32")
        if name == "FULLY_CONNECTED" and builtin == 9:
            pos = reader.field_pos(code, 2)
            assert pos is not None, "the version field is stored for versions above 1"
            patched = bytearray(data)
            struct.pack_into("<i", patched, pos, version)
            return bytes(patched)
    raise AssertionError(f"no {name} in the model")


def test_an_unknown_op_version_is_flagged_and_refused_not_taken_as_old(tiny_models, tmp_path):
    path = tmp_path / "future.tflite"
    path.write_bytes(
        _patch_opcode_version(tiny_models["dynamic"].read_bytes(), "FULLY_CONNECTED", 99)
    )
    facts = inspect_model(path)
    assert [(o.name, o.version) for o in facts.unknown_ops] == [("FULLY_CONNECTED", 99)]
    # A measured release: the wheel is known not to register it.
    verdict = preflight.check(facts, DEVICE_2_21, "cam")
    assert [p.kind for p in verdict.problems] == ["runtime_too_old"]
    assert "FULLY_CONNECTED v99" in verdict.problems[0].message
    assert verdict.basis == "from the op table measured on ai-edge-litert 2.3.0"
    # A runtime never measured: the op table does not know the version, so it is refused.
    unmeasured = {"name": "tensorflow", "version": "2.21.0", "compat_version": "2.21.0"}
    verdict = preflight.check(facts, {**DEVICE_2_21, "runtime": unmeasured}, "cam")
    assert [p.kind for p in verdict.problems] == ["unknown_op_version"]
    assert "FULLY_CONNECTED v99" in verdict.problems[0].message
    # A device newer than the table may know it: its own validation decides there.
    newer = {**DEVICE_2_21, "runtime": {"name": "ai-edge-litert", "version": "2.4.0",
                                        "compat_version": "2.22.0"}}  # fmt: skip
    assert preflight.check(facts, newer, "cam").ok


def test_preflight_uses_the_computed_need_and_names_the_op(digits_all):
    result, _ = digits_all
    facts = result.variant("int16x8").facts
    device = {**DEVICE_2_21, "runtime": {"name": "tflite-runtime", "version": "1.13.1",
                                         "compat_version": "1.13.1"}}  # fmt: skip
    verdict = preflight.check(facts, device, "pi")
    assert [p.kind for p in verdict.problems] == ["runtime_too_old"]
    message = verdict.problems[0].message
    assert "needs a LiteRT runtime >= 1.14.0" in message
    assert "CONV_2D v3" in message or "FULLY_CONNECTED v4" in message


@pytest.mark.parametrize("mode", ["float32", "dynamic", "int8"])
def test_computed_need_matches_the_converters_own_claim_where_it_is_fresh(digits_all, mode):
    # Where the metadata is right, computing from the table gives the same answer.
    result, _ = digits_all
    facts = result.variant(mode).facts
    assert facts.min_runtime_version == facts.metadata_min_runtime_version


def test_table_module_is_stdlib_only_and_ships_in_the_agent():
    from tfstudio.fleet.agent_bundle import build_agent_bytes

    text = (REPO / "edge_agent" / "op_runtime_table.py").read_text()
    assert "import numpy" not in text and "tensorflow" not in text.split('"""')[2]
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(build_agent_bytes())).namelist()
    assert "edge_agent/op_runtime_table.py" in names and "edge_agent/min_runtime.py" in names


def test_agent_reads_the_computed_need_on_an_old_device(device_venvs, digits_all):
    # The agent's own reader, in the old device's venv (tflite-runtime, numpy 1, no TF).
    result, _ = digits_all
    path = result.variant("int16x8").path
    code = (
        "from edge_agent.tflite_schema import read_model_facts\n"
        f"f = read_model_facts({str(path)!r})\n"
        "print(f.min_runtime_version, f.min_runtime_set_by)\n"
    )
    proc = subprocess.run(
        [str(device_venvs["old-device"]), "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "1.14.0"
