"""Fixtures for the runtime-compatibility tests: real runtime releases, each in its venv.

- `runtimes`: {label: RuntimeVenv} of the releases scripts/prepare-test-env.sh builds
  under /opt/tfstudio-test/runtimes (TFSTUDIO_TEST_RUNTIMES moves it): tflite-runtime
  2.14.0 and ai-edge-litert 1.0.1 and 2.3.0.
- `zoo`: the carrier zoo's families that some measured release cannot run, and a few
  every release runs, converted in every mode once per session.
- `carriers`: the registration carriers of every builtin op version.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import model_cache

RUNTIMES_DIR = Path(os.environ.get("TFSTUDIO_TEST_RUNTIMES", "/opt/tfstudio-test/runtimes"))
TEST_RUNTIMES = ("tflite-runtime==2.14.0", "ai-edge-litert==1.0.1", "ai-edge-litert==2.3.0")
"""The releases the test environment has (built by scripts/prepare-test-env.sh)."""
ZOO_FAMILIES = (
    "DIV", "GELU", "PADV2", "RSQRT", "SQUARED_DIFFERENCE", "TILE", "TRANSPOSE_CONV", "SPLIT",
    "LOG", "SQRT", "FULLY_CONNECTED", "SOFTMAX",
)  # fmt: skip
"""Every family with a kernel that fails on one of the test releases (in some mode), some
whose op versions they do not all register (LOG v2, SQRT v2, FULLY_CONNECTED v12), and
one they all run. The whole zoo (66 families) is scripts/measure_runtimes.py's."""


@pytest.fixture(scope="session")
def runtimes():
    from tfstudio.compat.venvs import cached_venv, parse_spec

    found = {}
    for text in TEST_RUNTIMES:
        spec = parse_spec(text)
        venv = cached_venv(spec, RUNTIMES_DIR)
        if venv is None:
            pytest.fail(f"no {spec.label} venv in {RUNTIMES_DIR}: run scripts/prepare-test-env.sh")
        found[spec.label] = venv
    return found


def build_test_zoo(out: Path) -> None:
    """The families above in every mode, as `<family>.<mode>.tflite` (TensorFlow)."""
    from scripts.runtime_probe.zoo import build_zoo

    build_zoo(out, ZOO_FAMILIES)


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory):
    """The zoo's models, from the on-disk model cache (built once per machine)."""
    from scripts.runtime_probe import zoo as zoo_module
    from scripts.runtime_probe.zoo import ZooModel

    root, _ = model_cache.cached_copy(
        "compat-zoo", build_test_zoo, tmp_path_factory.mktemp("zoo"), sources=[zoo_module]
    )
    models = []
    for path in sorted(root.glob("*.tflite")):
        family, mode = path.name.split(".")[:2]  # <family>.<mode>[.<n>].tflite
        models.append(ZooModel(family, mode, path))
    assert {m.family for m in models} <= set(ZOO_FAMILIES), models
    return models


def build_test_carriers(out: Path) -> None:
    """Every registration carrier, as `<op>.v<version>.tflite` (TensorFlow, once)."""
    from scripts.runtime_probe.carriers import build_carriers
    from tfstudio.compat.venvs import check_model_bytes

    build_carriers(out, check_model_bytes())


@pytest.fixture(scope="session")
def carriers(tmp_path_factory: pytest.TempPathFactory):
    """The carriers in plan order, from the on-disk model cache (built once per machine)."""
    from scripts.runtime_probe import carriers as carriers_module
    from scripts.runtime_probe.carriers import Carrier, probe_plan

    root, _ = model_cache.cached_copy(
        "compat-carriers", build_test_carriers, tmp_path_factory.mktemp("carriers"),
        sources=[carriers_module],
    )  # fmt: skip
    found = [
        Carrier(name, version, root / f"{name}.v{version}.tflite")
        for _code, name, version in probe_plan()
    ]
    assert all(c.path.exists() for c in found)
    return found


@pytest.fixture(scope="session")
def zoo_answers(zoo, runtimes):
    """{runtime label: each zoo model's answer}, inputs in each family's domain."""
    from scripts.runtime_probe.zoo import FAMILIES
    from tfstudio.compat.runner import run_models

    ranges = [(FAMILIES[m.family].low, FAMILIES[m.family].high) for m in zoo]
    return {
        label: run_models(venv.python, [m.path for m in zoo], ranges=ranges)
        for label, venv in runtimes.items()
    }
