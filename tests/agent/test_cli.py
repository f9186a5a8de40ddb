"""The agent's command line: info, version, JSON errors, exit codes, isolation from the studio."""

from __future__ import annotations

import subprocess
import sys

from tests.agent.conftest import REPO

INFO_KEYS = {
    "agent_version", "runtime", "python", "numpy", "arch", "system", "cpu_count", "cpu_model",
    "cpu_governor", "cpu_freq_mhz", "throttling", "thermal_c", "home", "disk_free_bytes", "active",
}  # fmt: skip


def test_info_reports_device_and_runtime(agent, agent_home):
    run = agent("info", "--json")
    assert run.rc == 0, run.stderr
    info = run.json
    assert INFO_KEYS <= set(info)
    assert info["runtime"]["name"] == "ai-edge-litert"
    assert info["runtime"]["compat_version"]
    assert info["python"] == ".".join(map(str, sys.version_info[:3]))
    assert info["cpu_count"] >= 1 and info["arch"]
    assert info["home"] == str(agent_home)
    assert info["disk_free_bytes"] > 0
    assert info["active"] is None


def test_json_flag_before_the_command_too(agent):
    assert agent("--json", "version").json == agent("version", "--json").json


def test_info_without_numpy_or_runtime_names_them_null(agent):
    # `-S` hides site-packages: a bare new device with neither numpy nor a runtime.
    run = agent("info", "--json", python=["/usr/bin/python3", "-S"])
    assert run.rc == 0, run.stderr
    assert run.json["runtime"] is None and run.json["numpy"] is None


def test_install_without_runtime_is_refused_clearly(agent, tiny_models):
    run = agent("install", str(tiny_models["int8"]), "--json", python=["/usr/bin/python3", "-S"])
    assert run.rc == 1
    assert run.json["code"] == "no_runtime"
    assert "ai-edge-litert" in run.json["hint"]


def test_version_plain_and_json(agent):
    from edge_agent import __version__

    assert agent("--version").stdout.strip() == f"tfstudio-agent {__version__}"
    assert agent("version", "--json").json == {"agent_version": __version__}


def test_usage_error_is_one_json_object_exit_2(agent):
    run = agent("bogus", "--json")
    assert run.rc == 2
    assert run.json["code"] == "usage" and "bogus" in run.json["error"]
    run = agent("bench", "--runs", "many", "--json")
    assert run.rc == 2 and run.json["code"] == "usage"


def test_usage_error_without_json_is_one_line_on_stderr(agent):
    run = agent("activate")
    assert run.rc == 2
    assert run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1
    assert run.stderr.startswith("error: ")


def test_agent_imports_neither_tfstudio_nor_tensorflow():
    code = (
        "import sys\n"
        "import edge_agent.cli, edge_agent.store, edge_agent.bench, edge_agent.server\n"
        "import edge_agent.validate, edge_agent.watcher, edge_agent.device_info\n"
        "from edge_agent import runtime; runtime.detect_runtime()\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tfstudio', 'tensorflow')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(REPO))


def test_list_on_empty_home(agent):
    run = agent("list", "--json")
    assert run.rc == 0
    assert run.json == {"active": None, "previous": None, "models": []}


def test_rollback_with_nothing_active(agent):
    run = agent("rollback", "--json")
    assert run.rc == 1 and run.json["code"] == "no_active"


def test_bench_with_nothing_active(agent):
    run = agent("bench", "--json")
    assert run.rc == 1 and run.json["code"] == "no_active"


def test_agent_sources_are_python39_syntax():
    """Devices may run Python 3.9: no match statements or other newer grammar."""
    import ast

    for path in sorted((REPO / "edge_agent").glob("*.py")):
        source = path.read_text()
        ast.parse(source, filename=str(path), feature_version=(3, 9))
        assert "from __future__ import annotations" in source or path.name in (
            "__init__.py",
            "__main__.py",
            "builtin_ops.py",
        ), f"{path.name}: annotations must not be evaluated on 3.9"
