"""install / list / activate / rollback / prune: refusals leave the active model unchanged."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def with_active(agent, tiny_models):
    """A home whose active model is the float32 MLP; returns its sha256."""
    run = agent("install", str(tiny_models["float32"]), "--name", "base", "--json")
    assert run.rc == 0, run.stdout + run.stderr
    return run.json["sha256"]


def assert_active(agent, expected):
    listing = agent("list", "--json").json
    assert listing["active"] == expected
    return listing


def test_install_stores_verifies_and_activates(agent, agent_home, tiny_models):
    path = tiny_models["int8"]
    run = agent("install", str(path), "--sha256", sha(path), "--name", "digits-int8", "--json")
    assert run.rc == 0, run.stdout + run.stderr
    out = run.json
    assert out["sha256"] == sha(path)
    assert out["name"] == "digits-int8"
    assert out["size_bytes"] == path.stat().st_size
    assert out["min_runtime_version"] == "1.14.0"
    assert out["activated"] is True and out["active"] == out["sha256"]
    assert out["previous"] is None and out["already_present"] is False
    stored = agent_home / "models" / out["sha256"]
    assert (stored / "model.tflite").read_bytes() == path.read_bytes()
    assert (stored / "manifest.json").is_file()
    assert path.exists(), "a source outside the inbox is left alone"
    listing = assert_active(agent, out["sha256"])
    (model,) = listing["models"]
    assert model["active"] is True and model["name"] == "digits-int8"
    assert model["installed_at"].endswith("Z") and model["activated_at"].endswith("Z")


def test_second_install_makes_the_first_previous(agent, with_active, tiny_models):
    out = agent("install", str(tiny_models["int8"]), "--json").json
    assert out["previous"] == with_active
    again = agent("install", str(tiny_models["int8"]), "--json").json
    assert again["already_present"] is True and again["active"] == out["sha256"]


def test_no_activate_keeps_the_active_model(agent, with_active, tiny_models):
    out = agent("install", str(tiny_models["int8"]), "--no-activate", "--json").json
    assert out["activated"] is False and out["active"] == with_active
    listing = assert_active(agent, with_active)
    assert {m["sha256"] for m in listing["models"]} == {with_active, out["sha256"]}


def test_wrong_sha256_is_refused(agent, with_active, tiny_models):
    run = agent("install", str(tiny_models["int8"]), "--sha256", "0" * 64, "--json")
    assert run.rc == 1
    assert run.json["code"] == "sha256_mismatch"
    assert "0" * 64 in run.json["error"] and sha(tiny_models["int8"]) in run.json["error"]
    assert_active(agent, with_active)


def test_non_tflite_file_is_refused(agent, with_active, tmp_path):
    bogus = tmp_path / "model.tflite"
    bogus.write_bytes(b"this is a text file pretending to be a model\n" * 20)
    run = agent("install", str(bogus), "--json")
    assert run.rc == 1 and run.json["code"] == "not_tflite"
    assert "not a TFLite model" in run.json["error"]
    assert_active(agent, with_active)


@pytest.mark.parametrize("fraction", [0.0, 0.5, 0.9])
def test_truncated_file_is_refused(agent, with_active, tiny_models, tmp_path, fraction):
    data = tiny_models["int8"].read_bytes()
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(data[: int(len(data) * fraction)])
    run = agent("install", str(cut), "--json")
    assert run.rc == 1
    assert run.json["code"] == "truncated", run.json
    assert_active(agent, with_active)


def test_missing_file_and_bad_sha_argument(agent, tmp_path):
    run = agent("install", str(tmp_path / "nope.tflite"), "--json")
    assert run.rc == 1 and run.json["code"] == "not_found"
    run = agent("install", str(tmp_path / "nope.tflite"), "--sha256", "xyz", "--json")
    assert run.rc == 2 and run.json["code"] == "usage"


def test_inbox_file_is_consumed_on_success(agent, agent_home, tiny_models):
    (agent_home / "inbox").mkdir(parents=True)
    digest = sha(tiny_models["int8"])
    upload = agent_home / "inbox" / f"{digest}.partial"
    shutil.copyfile(tiny_models["int8"], upload)
    run = agent("install", str(upload), "--sha256", digest, "--json")
    assert run.rc == 0, run.stdout
    assert not upload.exists()
    assert run.json["name"] == f"model-{digest[:8]}"


def test_inbox_file_is_deleted_on_mismatch(agent, agent_home, tiny_models, with_active):
    upload = agent_home / "inbox" / "upload.partial"
    shutil.copyfile(tiny_models["int8"], upload)
    run = agent("install", str(upload), "--sha256", "1" * 64, "--json")
    assert run.json["code"] == "sha256_mismatch"
    assert not upload.exists()
    assert_active(agent, with_active)


def test_activate_by_prefix_and_rollback(agent, tiny_models):
    a = agent("install", str(tiny_models["float32"]), "--json").json["sha256"]
    b = agent("install", str(tiny_models["int8"]), "--json").json["sha256"]
    c = agent("install", str(tiny_models["float16"]), "--json").json["sha256"]
    assert agent("activate", a[:10], "--json").json == {"active": a, "previous": c}
    assert agent("rollback", "--json").json == {"active": c, "previous": b}
    assert agent("rollback", "--json").json == {"active": b, "previous": None}
    run = agent("rollback", "--json")
    assert run.rc == 1 and run.json["code"] == "not_found"
    assert_active(agent, b)


def test_activate_unknown_or_ambiguous(agent, with_active):
    other = "0" * 64 if not with_active.startswith("0") else "1" * 64
    run = agent("activate", other, "--json")
    assert run.rc == 1 and run.json["code"] == "not_found"
    run = agent("activate", "abc", "--json")
    assert run.rc == 2 and run.json["code"] == "usage"


def test_activate_refuses_a_corrupted_stored_model(agent, agent_home, tiny_models, with_active):
    other = agent("install", str(tiny_models["int8"]), "--no-activate", "--json").json["sha256"]
    stored = agent_home / "models" / other / "model.tflite"
    stored.write_bytes(stored.read_bytes()[:-10] + b"0123456789")
    run = agent("activate", other, "--json")
    assert run.rc == 1 and run.json["code"] == "sha256_mismatch"
    assert_active(agent, with_active)


def test_prune_keeps_n_and_never_the_active(agent, tiny_models):
    first = agent("install", str(tiny_models["float32"]), "--json").json["sha256"]
    for mode in ("int8", "float16", "dynamic"):
        out = agent("install", str(tiny_models[mode]), "--no-activate", "--keep", "2", "--json")
        assert out.rc == 0, out.stdout
    listing = assert_active(agent, first)
    kept = [m["sha256"] for m in listing["models"]]
    assert len(kept) == 2 and first in kept
    assert sha(tiny_models["dynamic"]) in kept, "the newest stays"


def test_validation_crash_is_isolated(agent, with_active, tiny_models):
    run = agent(
        "install", str(tiny_models["int8"]), "--json",
        env={"TFSTUDIO_AGENT_FAULT": "validate-crash"},
    )  # fmt: skip
    assert run.rc == 1
    assert run.json["code"] == "validation_crashed"
    assert "SIGSEGV" in run.json["error"]
    assert_active(agent, with_active)


def test_validation_hang_times_out(agent, with_active, tiny_models):
    run = agent(
        "install", str(tiny_models["int8"]), "--timeout", "2", "--json",
        env={"TFSTUDIO_AGENT_FAULT": "validate-hang"},
    )  # fmt: skip
    assert run.rc == 1
    assert run.json["code"] == "validation_timeout"
    assert_active(agent, with_active)


def test_human_errors_are_one_line(agent, with_active, tmp_path):
    bogus = tmp_path / "x.tflite"
    bogus.write_text("nope")
    run = agent("install", str(bogus))
    assert run.rc == 1
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("error: ")
    assert "Traceback" not in run.stderr


@pytest.fixture
def tiny_fs(small_tmpfs):
    """A 24 KiB tmpfs: room for the int8 MLP, not for the float32 one as well."""
    return small_tmpfs("24k")


def test_disk_full_is_refused_cleanly(agent, tiny_fs, tiny_models):
    home = tiny_fs / "home"
    first = agent("install", str(tiny_models["int8"]), "--json", home=home)
    assert first.rc == 0, first.stdout
    run = agent("install", str(tiny_models["float32"]), "--json", home=home)
    assert run.rc == 1
    assert run.json["code"] == "disk_full"
    assert ".tmp-" not in run.json["error"]
    listing = agent("list", "--json", home=home).json
    assert listing["active"] == first.json["sha256"]
    assert [m["sha256"] for m in listing["models"]] == [first.json["sha256"]]
    assert not [p for p in (home / "models").iterdir() if p.name.startswith(".tmp-")]


def test_keep_one_never_prunes_the_model_just_installed(agent, with_active, tiny_models):
    out = agent("install", str(tiny_models["int8"]), "--no-activate", "--keep", "1", "--json")
    assert out.rc == 0, out.stdout
    listing = assert_active(agent, with_active)
    assert {m["sha256"] for m in listing["models"]} == {with_active, out.json["sha256"]}


def test_validation_runs_this_agents_code_whatever_the_working_directory(
    agent_pyz, agent_home, tiny_models, tmp_path
):
    """`python -m` puts the working directory first on sys.path: a stray `edge_agent`
    there (a checkout, an older copy) must not stand in for the agent's own child."""
    import subprocess
    import sys

    stray = tmp_path / "work"
    (stray / "edge_agent").mkdir(parents=True)
    (stray / "edge_agent" / "__init__.py").write_text("")
    marker = tmp_path / "stray-ran"
    (stray / "edge_agent" / "validate_child.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nraise SystemExit(3)\n"
    )
    proc = subprocess.run(
        [sys.executable, str(agent_pyz), "--home", str(agent_home), "install",
         str(tiny_models["int8"]), "--json"],
        capture_output=True, text=True, cwd=stray, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not marker.exists()
