"""Model versions: small integers the store gives in install order, kept in `active.json`.

Each stored model gets the next number when it is stored, activated or not; the
number survives restarts, activations and rollbacks, and a pruned model's number is
never given again. A home written before versions existed numbers its models by
install time, the same way before and after its pointer is next written.
"""

from __future__ import annotations

import json
from pathlib import Path


def _versions(agent) -> dict[str, int]:
    listing = agent("list", "--json").json
    return {m["sha256"]: m["version"] for m in listing["models"]}


def test_versions_follow_install_order_and_are_never_reused(agent, tiny_models) -> None:
    def install(mode: str, *args: str) -> str:
        out = agent("install", str(tiny_models[mode]), *args, "--json")
        assert out.rc == 0, out.stderr
        return out.json["sha256"]

    a = install("float32")
    b = install("float16", "--no-activate")
    c = install("int8")
    assert _versions(agent) == {a: 1, b: 2, c: 3}
    assert agent("rollback", "--json").rc == 0
    assert agent("activate", c, "--json").rc == 0
    assert _versions(agent) == {a: 1, b: 2, c: 3}
    # c is active, a the rollback target: b goes.
    assert agent("prune", "--keep", "1", "--json").json["removed"] == [b]
    d = install("dynamic", "--no-activate")
    b_again = install("float16", "--no-activate")
    assert b_again == b
    assert _versions(agent) == {a: 1, c: 3, d: 4, b: 5}


def test_a_home_from_before_versions_keeps_one_numbering(agent, tiny_models, agent_home) -> None:
    first = agent("install", str(tiny_models["int8"]), "--json").json["sha256"]
    second = agent("install", str(tiny_models["float32"]), "--json").json["sha256"]
    # What a home written by an older agent looks like: no versions in the pointer.
    pointer = agent_home / "active.json"
    state = json.loads(pointer.read_text())
    state.pop("versions"), state.pop("next_version")
    pointer.write_text(json.dumps(state))
    for sha, when in ((first, "2020-01-01T00:00:00Z"), (second, "2020-01-02T00:00:00Z")):
        manifest = Path(agent_home / "models" / sha / "manifest.json")
        data = json.loads(manifest.read_text())
        data["installed_at"] = when
        manifest.write_text(json.dumps(data))
    assert _versions(agent) == {first: 1, second: 2}
    third = agent("install", str(tiny_models["float16"]), "--json").json["sha256"]
    assert _versions(agent) == {first: 1, second: 2, third: 3}
    state = json.loads(pointer.read_text())
    assert state["versions"] == {first: 1, second: 2, third: 3} and state["next_version"] == 4
