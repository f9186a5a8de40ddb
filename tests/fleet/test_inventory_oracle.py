"""The inventory reader against Ansible itself: `ansible-inventory --list` is the oracle.

Generated inventories (tests/helpers/inventories.py: groups and children declared in
any order, host ranges and ports, Python-literal and YAML values, group and `all`
vars, `ansible_group_priority`, `group_vars/` and `host_vars/` files, comments) are
written as INI and as YAML, and each one's groups, members and merged host vars must
equal what ansible-core (its own venv, built by scripts/prepare-test-env.sh) lists.
A few broken inventories must be refused by both. Ansible's `--list` output, read
back, must give the same again.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from tests.helpers.inventories import random_inventory, write_ini, write_yaml
from tfstudio.fleet.inventory import InventoryError, dump_json
from tfstudio.fleet.inventory_files import load

pytestmark = pytest.mark.slow

ANSIBLE = Path(os.environ.get("TFSTUDIO_TEST_VENVS", "/opt/tfstudio-test/venvs")) / "ansible"
ORACLE = Path(__file__).resolve().parents[1] / "helpers" / "ansible_oracle.py"
CASES = 25

BROKEN = {
    "undeclared-child.ini": "[lab:children]\ncams\n",
    "vars-of-nothing.ini": "[ghost:vars]\nx=1\n",
    "bad-range.ini": "[g]\nweb[03:1]x\nweb[1:2:]\n",
    "bad-section.ini": "[g h]\nweb1\n",
    "loop.yml": "all:\n  children:\n    a:\n      children:\n        b:\n          children:\n"
    "            a: {}\n",
}


def _oracle(paths: list[Path], out: Path) -> dict[str, dict]:
    python = ANSIBLE / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} is missing: scripts/prepare-test-env.sh builds the ansible venv")
    out.mkdir()
    subprocess.run(
        [str(python), str(ORACLE), str(out), *map(str, paths)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    results: dict[str, dict] = json.loads((out / "results.json").read_text())
    return results


def _mine(path: Path) -> dict | None:
    try:
        return json.loads(dump_json(load(path)))
    except InventoryError:
        return None


def _theirs(result: dict) -> dict | None:
    listing = result["list"]
    if result["rc"] != 0 or listing is None:
        return None
    listing["_meta"].pop("profile", None)
    return listing


def test_generated_inventories_read_as_ansible_reads_them(tmp_path: Path) -> None:
    paths: list[Path] = []
    for n in range(CASES):
        rng = random.Random(n)
        model = random_inventory(rng)
        for fmt, writer in (("ini", write_ini), ("yaml", write_yaml)):
            folder = tmp_path / f"{n}-{fmt}"
            folder.mkdir()
            paths.append(writer(model, folder, rng))
    for name, text in BROKEN.items():
        folder = tmp_path / name.replace(".", "-")
        folder.mkdir()
        (folder / name).write_text(text)
        paths.append(folder / name)
    results = _oracle(paths, tmp_path / "oracle")
    differ = []
    for path in paths:
        theirs, mine = _theirs(results[str(path)]), _mine(path)
        if json.dumps(mine, sort_keys=True) != json.dumps(theirs, sort_keys=True):
            differ.append(f"{path}:\n  ansible: {theirs}\n  tfstudio: {mine}")
    assert not differ, f"{len(differ)} of {len(paths)} differ:\n" + "\n".join(differ[:3])
    assert sum(_theirs(results[str(p)]) is None for p in paths) == len(BROKEN)

    # Ansible's own --list output (merged vars) is an inventory tfstudio reads as such.
    for path in paths[:10]:
        listing = _theirs(results[str(path)])
        exported = path.with_name("exported.json")
        exported.write_text(json.dumps(listing))
        assert _mine(exported) == listing
