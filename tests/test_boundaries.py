"""The architecture's promises, checked in fresh interpreters.

- The headless core (`tfstudio`, minus `tfstudio.tui`) never imports textual.
- `edge_agent` never imports `tfstudio` or `tensorflow`.
- The training core loads docker, paramiko and tensorflow only inside functions.
- `tfstudio --help` (and every subcommand's --help) loads neither tensorflow,
  docker nor paramiko.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO


def _run(code: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_core_modules_never_import_textual() -> None:
    found = _run(
        """
        import importlib, json, pkgutil, sys
        import tfstudio
        bad, seen = {}, []
        # walk_packages would import tfstudio.tui itself to look inside it, so walk by hand.
        todo = [(tfstudio.__path__, "tfstudio.")]
        while todo:
            path, prefix = todo.pop()
            for mod in pkgutil.iter_modules(path, prefix):
                if mod.name.startswith("tfstudio.tui") or mod.name == "tfstudio.__main__":
                    continue
                module = importlib.import_module(mod.name)
                seen.append(mod.name)
                if "textual" in sys.modules and not bad:
                    bad[mod.name] = "textual"
                if mod.ispkg:
                    todo.append((module.__path__, mod.name + "."))
        print(json.dumps({"bad": bad, "seen": seen}))
        """
    )
    assert "tfstudio.errors" in found["seen"]
    assert found["bad"] == {}, f"core module pulled in textual: {found['bad']}"


def test_edge_agent_never_imports_studio_or_tensorflow() -> None:
    found = _run(
        """
        import importlib, json, pkgutil, sys
        import edge_agent
        names = []
        for mod in pkgutil.walk_packages(edge_agent.__path__, "edge_agent."):
            if mod.name == "edge_agent.__main__":
                continue
            importlib.import_module(mod.name)
            names.append(mod.name)
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("tfstudio", "tensorflow"))
        print(json.dumps({"leaked": leaked, "names": names}))
        """
    )
    assert "edge_agent.tflite_schema" in found["names"]
    assert found["leaked"] == []


@pytest.mark.parametrize("argv", [["--help"], ["--version"]])
def test_cli_start_loads_no_heavy_modules(argv: list[str]) -> None:
    found = _run(
        f"""
        import contextlib, io, json, sys
        from tfstudio.cli import main
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            try:
                main({argv!r})
            except SystemExit:
                pass
        heavy = sorted({{m.split(".")[0] for m in sys.modules}}
                       & {{"tensorflow", "keras", "docker", "paramiko", "textual"}})
        print(json.dumps({{"heavy": heavy, "out": buf.getvalue()}}))
        """
    )
    assert found["heavy"] == []
    assert "tfstudio" in found["out"]


def test_every_subcommand_help_is_light() -> None:
    found = _run(
        """
        import contextlib, io, json, sys
        from tfstudio.cli import build_parser, main
        parser = build_parser()
        sub = next(a for a in parser._actions if a.dest == "command")
        names = sorted(sub.choices)
        for name in names:
            with contextlib.redirect_stdout(io.StringIO()):
                try:
                    main([name, "--help"])
                except SystemExit:
                    pass
        heavy = sorted({m.split(".")[0] for m in sys.modules}
                       & {"tensorflow", "keras", "docker", "paramiko", "textual"})
        print(json.dumps({"heavy": heavy, "names": names}))
        """
    )
    assert found["names"], "no subcommands registered"
    assert found["heavy"] == []


def test_console_script_reports_version() -> None:
    exe = REPO / ".venv" / "bin" / "tfstudio"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "tfstudio"]
    proc = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.strip().startswith("tfstudio ")


def test_training_core_imports_no_docker_paramiko_or_tensorflow() -> None:
    """Every training module loads its heavy libraries inside the functions that use them."""
    found = _run(
        """
        import importlib, json, pkgutil, sys
        import tfstudio.training
        names = []
        for mod in pkgutil.walk_packages(tfstudio.training.__path__, "tfstudio.training."):
            importlib.import_module(mod.name)
            names.append(mod.name)
        heavy = sorted({m.split(".")[0] for m in sys.modules}
                       & {"tensorflow", "keras", "docker", "paramiko", "textual"})
        print(json.dumps({"heavy": heavy, "names": names}))
        """
    )
    assert "tfstudio.training.launch" in found["names"]
    assert "tfstudio.training.dialstdio" in found["names"]
    assert found["heavy"] == []


def test_local_engine_commands_never_load_paramiko() -> None:
    """The Docker SDK's own ssh:// adapter (and paramiko with it) is skipped for local engines."""
    found = _run(
        """
        import json, sys
        from tfstudio.training.client import connect, docker_sdk
        docker_sdk()
        import docker.api.client
        loaded = {name: name in sys.modules for name in ("paramiko", "docker")}
        print(json.dumps(loaded))
        """
    )
    assert found == {"paramiko": False, "docker": True}


KERNEL_ALLOWED_PACKAGES = ("edge_agent",)
"""Besides other kernel modules, what a kernel module may import from this project: the
agent's stdlib-only helpers (one atomic writer and one parser per side)."""


def _project_graph(exclude_type_checking: bool = False):
    import grimp

    return grimp.build_graph(
        "tfstudio",
        "edge_agent",
        include_external_packages=False,
        exclude_type_checking_imports=exclude_type_checking,
        cache_dir=None,
    )


def test_the_kernel_imports_only_the_kernel() -> None:
    """The flat modules directly under `tfstudio/` are the kernel every layer stands on:
    they import nothing above them. Derived from the tree, so a new kernel module is
    covered without an edit (the layers contract in pyproject names only packages)."""
    graph = _project_graph()
    kernel = {
        f"tfstudio.{p.stem}"
        for p in (REPO / "tfstudio").glob("*.py")
        if p.stem not in ("__init__", "__main__")
    }
    assert {"tfstudio.errors", "tfstudio.operations", "tfstudio.config"} <= kernel
    bad = {
        f"{m} -> {i}"
        for m in kernel
        for i in graph.find_modules_directly_imported_by(m)
        if i not in kernel and i != "tfstudio" and not i.startswith(KERNEL_ALLOWED_PACKAGES)
    }
    assert bad == set()


def test_every_package_is_in_a_layer() -> None:
    """Each package under `tfstudio/` is named in the layers contract, so none escapes it."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")
    named = {part.strip() for layer in layers["layers"] for part in layer.split("|")}
    present = {p.name for p in (REPO / "tfstudio").iterdir() if (p / "__init__.py").exists()}
    assert present == named


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_between_modules_or_packages() -> None:
    """No two modules, and no two packages at any depth, import each other, directly or
    round a longer circle (type-checking imports count: they are dependencies too)."""
    graph = _project_graph()
    modules = {m for m in graph.modules if m.split(".")[0] in ("tfstudio", "edge_agent")}
    edges = {
        m: {i for i in graph.find_modules_directly_imported_by(m) if i in modules} for m in modules
    }
    assert _cycles(edges) == []
    for depth in (1, 2, 3):
        packages: dict[str, set[str]] = {}
        for m, out in edges.items():
            src = ".".join(m.split(".")[: depth + 1])
            for i in out:
                dst = ".".join(i.split(".")[: depth + 1])
                if src != dst and src.count(".") == dst.count(".") == depth:
                    packages.setdefault(src, set()).add(dst)
        assert _cycles(packages) == [], f"package cycle at depth {depth}"


def test_the_facades_vocabulary_resolves_every_name_and_loads_nothing_until_asked() -> None:
    found = _run(
        """
        import json, sys
        import tfstudio.studio.types as types
        before = sorted(m for m in sys.modules if m.startswith(
            ("tfstudio.convert", "tfstudio.training", "tfstudio.deploy", "tfstudio.measure",
             "tfstudio.tunnel", "tfstudio.transport", "numpy")))
        missing = [name for name in types.__all__ if getattr(types, name, None) is None]
        heavy = sorted({m.split(".")[0] for m in sys.modules}
                       & {"tensorflow", "keras", "docker", "paramiko", "textual"})
        print(json.dumps({"before": before, "missing": missing, "count": len(types.__all__),
                          "heavy": heavy}))
        """
    )
    assert found["before"] == []
    assert found["missing"] == [] and found["count"] > 30
    assert found["heavy"] == []
