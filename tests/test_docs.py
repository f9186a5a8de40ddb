"""The docs point at things that exist.

- Every module, package or repository path that `docs/architecture.md` names in code
  (inline spans and fenced blocks) is real: `tfstudio.fleet.registry` and
  `tfstudio/fleet/registry.py` must be a module file, `tfstudio/deploy/` a package, and
  a dotted name that goes past a module (`tfstudio.operations.CancelToken`) must be
  defined there. A renamed or deleted module then fails here, not in a reader's head.
- Every relative link in README.md and docs/*.md points at a file that exists
  (anchors are not checked).
- README.md stays a front door: under 200 lines.

Fast on purpose: it reads text and parses a few Python files with `ast`; it imports
nothing from the project and starts no process.
"""

from __future__ import annotations

import ast
import re
import urllib.parse
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
ARCHITECTURE = DOCS / "architecture.md"
README_MAX_LINES = 200

MODULE_ROOTS = ("tfstudio", "edge_agent")
"""Top-level packages: a name under them must be a module or a package."""
OTHER_ROOTS = ("scripts", "tests", "assets", "docs")
"""Other top-level folders: a path under them must exist."""
FILE_SUFFIXES = frozenset({"toml", "json", "jsonl", "pyz", "log", "md", "txt", "env"})
"""`tfstudio.toml` is a file name, not a module."""

_FENCE = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.M | re.S)
_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_EDGE = r"(?<![\w./$<>-])"
_DOTTED = re.compile(_EDGE + r"((?:tfstudio|edge_agent)(?:\.[A-Za-z_]\w*)+)")
_FROM_IMPORT = re.compile(r"\bfrom\s+((?:tfstudio|edge_agent)(?:\.\w+)*)\s+import\s+(\w+)")
_PATH = re.compile(
    _EDGE + r"((?:" + "|".join(MODULE_ROOTS + OTHER_ROOTS) + r")/[\w./*-]*)|"
    r"(?<![\w./$<>-])(pyproject\.toml|Makefile)\b"
)
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REF_LINK = re.compile(r"^[ \t]*\[[^\]]+\]:[ \t]*<?(\S+?)>?[ \t]*$", re.M)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def code_texts(markdown: str) -> list[str]:
    """Returns the text of every fenced block and every inline code span."""
    blocks = [m.group(2) for m in _FENCE.finditer(markdown)]
    prose = _FENCE.sub("", markdown)
    return blocks + [m.group(2) for m in _SPAN.finditer(prose)]


def named_things(markdown: str) -> list[str]:
    """Returns the dotted module names and repository paths named in code, in order."""
    found: list[str] = []
    for text in code_texts(markdown):
        found += _DOTTED.findall(text)
        found += [f"{module}.{name}" for module, name in _FROM_IMPORT.findall(text)]
        found += [a or b for a, b in _PATH.findall(text)]
    return list(dict.fromkeys(n.rstrip(".") for n in found))


def _defined(source: Path, names: list[str]) -> bool:
    """True when `names` (an attribute path, e.g. ["Studio", "training"]) is defined in
    `source`: a class, function, assignment or import at module level, then inside the
    class found."""
    body: list[ast.stmt] = ast.parse(source.read_text(encoding="utf-8")).body
    for i, name in enumerate(names):
        node = _find(body, name)
        if node is None:
            return False
        if i < len(names) - 1:
            if not isinstance(node, ast.ClassDef):
                return False
            body = node.body
    return True


def _find(body: list[ast.stmt], name: str) -> ast.stmt | None:
    for node in body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name == name:
                return node
        elif isinstance(node, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                return node
        elif isinstance(node, ast.AnnAssign):
            if isinstance(node.target, ast.Name) and node.target.id == name:
                return node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if (alias.asname or alias.name.split(".")[0]) == name:
                    return node
        elif isinstance(node, (ast.If, ast.Try)):
            inner = [*node.body, *node.orelse, *getattr(node, "finalbody", [])]
            for handler in getattr(node, "handlers", []):
                inner += handler.body
            found = _find(inner, name)
            if found is not None:
                return found
    return None


def _module_file(parts: list[str]) -> Path | None:
    base = REPO.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def problem(name: str) -> str | None:
    """Returns why `name` (a dotted name or a repository path) names nothing, or None."""
    if "/" in name or name in ("pyproject.toml", "Makefile"):
        return _path_problem(name)
    parts = name.split(".")
    if parts[-1] in FILE_SUFFIXES:
        return None
    for i in range(len(parts), 0, -1):
        source = _module_file(parts[:i])
        if source is None:
            continue
        rest = parts[i:]
        if rest and not _defined(source, rest):
            where = source.relative_to(REPO)
            return f"{name}: no module {name!r}, and {'.'.join(rest)} is not defined in {where}"
        return None
    return f"{name}: no such module or package"


def _path_problem(name: str) -> str | None:
    root = name.split("/", 1)[0]
    if "*" in name:
        return None if any(REPO.glob(name.rstrip("/"))) else f"{name}: matches no file"
    path = REPO / name
    if root not in MODULE_ROOTS:
        return None if path.exists() else f"{name}: no such file or folder"
    if name.endswith("/"):
        ok = (path / "__init__.py").is_file()
        return None if ok else f"{name}: not a package (no {name}__init__.py)"
    if name.endswith(".py"):
        return None if path.is_file() else f"{name}: no such module file"
    if path.is_file() and path.suffix[1:] in FILE_SUFFIXES:
        return None
    if (path / "__init__.py").is_file() or path.with_suffix(".py").is_file():
        return None
    return f"{name}: neither a package nor a module"


def relative_links(markdown: str) -> list[str]:
    """Returns the link targets that are paths (no scheme, not a bare #anchor), in prose."""
    prose = _SPAN.sub("", _FENCE.sub("", markdown))
    targets = _LINK.findall(prose) + _REF_LINK.findall(prose)
    return [t for t in targets if not t.startswith("#") and not _SCHEME.match(t)]


def broken_links(page: Path) -> list[str]:
    """Returns `page`'s relative link targets whose file does not exist."""
    broken = []
    for target in relative_links(page.read_text(encoding="utf-8")):
        path = urllib.parse.unquote(target.split("#", 1)[0])
        if not (page.parent / path).exists():
            broken.append(target)
    return broken


PAGES = [REPO / "README.md", *sorted(DOCS.glob("*.md"))]


def test_readme_is_a_front_door() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, (
        f"README.md has {len(lines)} lines; move detail into docs/ (limit {README_MAX_LINES})"
    )


def test_every_name_in_the_architecture_exists() -> None:
    names = named_things(ARCHITECTURE.read_text(encoding="utf-8"))
    # The doc is parsed at all: the kernel, a capability and the agent are in it.
    assert {"tfstudio.operations", "tfstudio/deploy/", "edge_agent.store"} <= set(names)
    problems = [p for p in map(problem, names) if p]
    assert not problems, "docs/architecture.md names what does not exist:\n" + "\n".join(problems)


def test_the_name_check_fails_on_wrong_names() -> None:
    good = "`tfstudio.fleet.registry` `tfstudio/deploy/` `tfstudio.operations.CancelToken`"
    bad = (
        "`tfstudio.fleet.registri` `edge_agent.stor` `tfstudio/deploy/nothing.py`\n"
        "```\ntfstudio/nowhere/   and   tfstudio.studio.Studio.no_such_method\n```\n"
        "`from tfstudio.studio import Studioo` `tfstudio.operations.Stage.QUEUED.x`\n"
        "`scripts/bench/bench_nothing.py`"
    )
    assert [p for p in map(problem, named_things(good)) if p] == []
    names = named_things(bad)
    assert "tfstudio.studio.Studio.no_such_method" in names
    assert "tfstudio.studio.Studioo" in names
    assert len([p for p in map(problem, names) if p]) == 8, names
    assert problem("tfstudio.toml") is None


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_point_at_files(page: Path) -> None:
    broken = broken_links(page)
    assert not broken, f"{page.relative_to(REPO)} links to missing files: {broken}"


def test_the_link_check_fails_on_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("x")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md#a) [gone](nowhere.md) [web](https://example.com) [top](#intro)\n"
        "`[not a link](in-code.md)`\n\n[ref]: missing/ref.md\n"
    )
    assert sorted(broken_links(page)) == ["missing/ref.md", "nowhere.md"]


def test_the_docs_index_lists_every_page() -> None:
    index = DOCS / "README.md"
    linked = {t.split("#", 1)[0] for t in relative_links(index.read_text(encoding="utf-8"))}
    pages = {p.name for p in DOCS.glob("*.md")} - {"README.md"}
    assert pages - linked == set()
