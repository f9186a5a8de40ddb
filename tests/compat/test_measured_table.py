"""The committed measured table (edge_agent/runtime_measured.py) against the runtime
releases this machine has: what they register, which kernels fail, and that preflight
neither lets through a model a release cannot run nor refuses one it runs."""

from __future__ import annotations

import pytest

from edge_agent import measured, runtime_measured
from edge_agent.op_runtime_table import OP_RUNTIME_VERSIONS
from edge_agent.runtime_meta import compat_version
from edge_agent.tflite_schema import read_model_facts
from scripts.runtime_probe.analyse import kernel_results, registrations
from tfstudio.compat.runner import run_models
from tfstudio.deploy import preflight


def test_registrations_are_what_the_wheels_register(runtimes, carriers):
    assert len(carriers) > 800
    for label, venv in runtimes.items():
        found = registrations(carriers, run_models(venv.python, [c.path for c in carriers]))
        assert found == runtime_measured.REGISTERED[label], label


def test_kernel_failures_are_what_the_wheels_do(runtimes, zoo, zoo_answers):
    kernels = {k for m in zoo for k in read_model_facts(m.path).kernels}
    assert "SQUARED_DIFFERENCE(int16,int16)->(int16)" in kernels
    for label in runtimes:
        _ran, failed, notes = kernel_results(zoo, zoo_answers[label])
        committed = {
            k: v for k, v in runtime_measured.KERNEL_FAILURES[label].items() if k in kernels
        }
        assert failed == committed, label
        assert notes == []
        assert kernels <= set(runtime_measured.KERNELS)


def _device(label: str) -> dict:
    name, version = label.split(" ")
    return {
        "runtime": {"name": name, "version": version,
                    "compat_version": compat_version(name, version)},
        "numpy": "1.26.4", "arch": "x86_64", "disk_free_bytes": 1 << 30,
    }  # fmt: skip


def test_preflight_claims_exactly_what_runs(runtimes, zoo, zoo_answers):
    wrong = []
    refused = 0
    for label in runtimes:
        for model, answer in zip(zoo, zoo_answers[label]):
            verdict = preflight.check(read_model_facts(model.path), _device(label), "dev")
            assert verdict.basis == f"from the op table measured on {label}"
            refused += not verdict.ok
            if verdict.ok != bool(answer["ok"]):
                wrong.append((model.path.name, label, verdict.ok, answer.get("error")))
    assert wrong == [], "preflight and the runtime disagree"
    assert refused >= 10  # the zoo does hold models some of these releases cannot run


@pytest.mark.parametrize("name, version", measured.releases("ai-edge-litert"))
def test_litert_levels_claim_no_more_than_the_wheels_register(name, version):
    level = measured.release_level(name, version, OP_RUNTIME_VERSIONS)
    assert compat_version(name, version) == level
