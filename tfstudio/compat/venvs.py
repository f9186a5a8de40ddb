"""One Python environment per LiteRT runtime release, built once and reused.

`tfstudio compat` proves a model on named runtime releases (`tflite-runtime==2.14.0`,
`ai-edge-litert==2.3.0`): each runs in its own venv under the runtimes folder
(`TFSTUDIO_RUNTIMES`, else `$TFSTUDIO_HOME/runtimes`), named `<name>-<version>`,
with a `runtime.json` written last, once the venv has loaded and run a model. A
folder without it is not a runtime (a build that died midway) and is rebuilt.

Old wheels need an old Python (tflite-runtime 2.7–2.13 exist for 3.9 at most
here) and numpy<2, so the builder tries the Pythons it finds, newest first after
the studio's own, and pins numpy<2 where the release needs it. The wheel comes
from the package index through pip: offline, the error names the wheel that is
missing and where to build it.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfstudio.atomic import file_lock
from tfstudio.config import studio_home
from tfstudio.errors import TfStudioError, UsageError

RUNTIMES_ENV = "TFSTUDIO_RUNTIMES"
"""The folder of runtime venvs (default: `$TFSTUDIO_HOME/runtimes`)."""
PYTHONS_ENV = "TFSTUDIO_RUNTIME_PYTHONS"
"""Pythons to build runtime venvs with, separated by os.pathsep (default: found)."""
MARKER = "runtime.json"
FAMILIES = ("tflite-runtime", "ai-edge-litert")
"""The runtime distributions a venv can be built for (the agent's runtimes but TF)."""
PIP_TIMEOUT_S = 900.0
"""A wheel of ~50 MB on a slow link; pip itself gives up sooner when offline."""
CHECK_TIMEOUT_S = 120.0

_CHECK_MODEL = (
    "eNplUb1Kw1AYPWljW2ioBYN0yNChc7C1upe2QiBtoRZxEKqQDBmaQo2i4EOIs6Ojj+DgID6Fg0/haDz35kst+sEhX8"
    "6953w/1wEwO/L3bTThoAEbdVjkKjCZg1yGhGgZQJfwC0ARWTBFlzCJjzRNTcl3iP5kfDKcHnuT8Xw0nPUGvVmPvpb2"
    "riDzyO8uoni+uoqTaBHOr8PVZbSMsUX+mXgiHok7uf8gdc6JuvRRQW3tq7iWZkuaK4lOhbWe0dRzHg4LZefLc4oyi6"
    "lVQMfttN29/x7Ku+0eZEcSL99p+kq8Edv8H/netNlfxpwjCQMXXJneJdhjXl151oRX+z2TeQKps7iIYqXY1Nq6voWq"
    "aGX2qiX5gHsxRFPY6M/YQP5mp1LnnRp1VBcPddYg7smrXXpByEdJbnPdr/eungUyTRZlslnJ3M+Q76f0dvPHx9Bvp3"
    "oxdT8/vqFJQw=="
)
"""zlib + base64 of a 656-byte float32 model (y = x + x), converted by TensorFlow 2.21."""


def check_model_bytes() -> bytes:
    """Returns the check model's flatbuffer (one ADD, float32 (1, 2) in and out)."""
    return zlib.decompress(base64.b64decode(_CHECK_MODEL))


class RuntimeVenvError(TfStudioError):
    """A runtime venv cannot be built or does not work."""


@dataclass(frozen=True, order=True)
class RuntimeSpec:
    """A runtime release: `tflite-runtime==2.14.0`."""

    name: str
    version: str

    @property
    def label(self) -> str:
        """'tflite-runtime 2.14.0', as people read it."""
        return f"{self.name} {self.version}"

    @property
    def requirement(self) -> str:
        """'tflite-runtime==2.14.0', as pip reads it."""
        return f"{self.name}=={self.version}"

    @property
    def folder(self) -> str:
        """'tflite-runtime-2.14.0', the venv's folder name."""
        return f"{self.name}-{self.version}"

    def needs_numpy1(self) -> bool:
        """True for releases built against numpy 1 (they fail at Interpreter() under numpy 2)."""
        from edge_agent.runtime_meta import parse_version

        return self.name == "tflite-runtime" or parse_version(self.version) < (1, 1)


def parse_spec(text: str) -> RuntimeSpec:
    """Returns the RuntimeSpec of 'tflite-runtime==2.14.0'. Raises UsageError."""
    name, sep, version = text.strip().partition("==")
    name = name.strip().lower().replace("_", "-")
    version = version.strip()
    if not sep or name not in FAMILIES or not version or not _plain_version(version):
        raise UsageError(
            f"--runtime {text!r} is not a runtime release",
            hint="name one as NAME==VERSION with NAME one of "
            + ", ".join(FAMILIES)
            + ", e.g. tflite-runtime==2.14.0 or ai-edge-litert==2.3.0",
        )
    return RuntimeSpec(name, version)


def _plain_version(version: str) -> bool:
    # The version becomes a folder name: digits, dots and a pre-release tag only.
    return all(part.isalnum() for part in version.split(".")) and version[0].isdigit()


def runtimes_root() -> Path:
    """Returns the folder of runtime venvs (created if missing)."""
    env = os.environ.get(RUNTIMES_ENV)
    root = Path(env).expanduser() if env else studio_home() / "runtimes"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RuntimeVenvError(f"cannot create the runtimes folder {root}: {exc.strerror}") from exc
    return root


@dataclass(frozen=True)
class RuntimeVenv:
    """A built runtime venv: its spec, folder and interpreter, and what it was built with."""

    spec: RuntimeSpec
    path: Path
    python_version: str
    numpy_version: str

    @property
    def python(self) -> Path:
        """The venv's interpreter."""
        return self.path / "bin" / "python"

    def to_json(self) -> dict[str, Any]:
        """Returns {name, version, path, python, numpy}."""
        return {
            "name": self.spec.name,
            "version": self.spec.version,
            "path": str(self.path),
            "python": self.python_version,
            "numpy": self.numpy_version,
        }


def cached_venv(spec: RuntimeSpec, root: Path | None = None) -> RuntimeVenv | None:
    """Returns the built venv of `spec` under `root`, or None when there is none."""
    folder = (root or runtimes_root()) / spec.folder
    try:
        meta = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not (folder / "bin" / "python").exists() or meta.get("version") != spec.version:
        return None
    return RuntimeVenv(spec, folder, str(meta.get("python", "")), str(meta.get("numpy", "")))


def ensure_venv(spec: RuntimeSpec, root: Path | None = None) -> tuple[RuntimeVenv, bool]:
    """Returns (the venv of `spec`, True when it was built now), building it if missing.

    Raises RuntimeVenvError when no Python here can install the wheel, the
    index cannot be reached (the message names the missing wheel), or the
    built runtime cannot run a model.
    """
    root = root or runtimes_root()
    found = cached_venv(spec, root)
    if found is not None:
        return found, False
    with file_lock(root / f".{spec.folder}.lock"):
        found = cached_venv(spec, root)  # another studio built it while we waited
        if found is not None:
            return found, False
        return _build(spec, root), True


def candidate_pythons() -> list[str]:
    """Pythons to build with: TFSTUDIO_RUNTIME_PYTHONS, else this one, the system's and
    pyenv's (3.9 and newer, newest first)."""
    env = os.environ.get(PYTHONS_ENV)
    if env:
        return [p for p in env.split(os.pathsep) if p]
    found = [getattr(sys, "_base_executable", sys.executable), "/usr/bin/python3"]
    pyenv = Path(os.environ.get("PYENV_ROOT", "~/.pyenv")).expanduser() / "versions"
    versions = glob.glob(str(pyenv / "3.*" / "bin" / "python3"))

    def minor(path: str) -> tuple[int, ...]:
        name = Path(path).parents[1].name
        return tuple(int(p) for p in name.split(".") if p.isdigit())

    found += sorted((p for p in versions if minor(p) >= (3, 9)), key=minor, reverse=True)
    unique: list[str] = []
    for path in found:
        if os.path.exists(path) and os.path.realpath(path) not in map(os.path.realpath, unique):
            unique.append(path)
    return unique


def _build(spec: RuntimeSpec, root: Path) -> RuntimeVenv:
    # Called under the release's lock: a scratch folder of it is a killed build's.
    for stale in root.glob(f".{spec.folder}-*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    reasons: list[str] = []
    for python in candidate_pythons():
        scratch = Path(tempfile.mkdtemp(prefix=f".{spec.folder}-", dir=root))
        try:
            outcome = _try_python(spec, python, scratch)
            if isinstance(outcome, str):
                reasons.append(outcome)
                continue
            final = root / spec.folder
            shutil.rmtree(final, ignore_errors=True)
            os.replace(scratch, final)
            # A venv's scripts name their folder: fix them after the move.
            _repoint(final, scratch)
            return RuntimeVenv(spec, final, outcome["python"], outcome["numpy"])
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    raise RuntimeVenvError(
        f"no Python here can install {spec.requirement}: " + "; ".join(reasons),
        hint=f"set {PYTHONS_ENV} to a Python the wheel supports (old tflite-runtime "
        "wheels need Python 3.9)",
    )


def _try_python(spec: RuntimeSpec, python: str, scratch: Path) -> dict[str, str] | str:
    """Builds the venv in `scratch` with `python`; returns its facts, or why this Python
    cannot have it (str). Raises RuntimeVenvError when the index is unreachable."""
    made = _run([python, "-m", "venv", "--without-pip", str(scratch)], 120)
    if made.returncode != 0:
        return f"{python}: cannot make a venv ({_last_line(made.stderr)})"
    packages = [spec.requirement, "numpy<2" if spec.needs_numpy1() else "numpy"]
    pip = [
        # -vv: only at that level does pip say that it could not fetch the index.
        sys.executable, "-m", "pip", "--python", str(scratch / "bin" / "python"), "install",
        "-vv", "--disable-pip-version-check", "--only-binary=:all:", *packages,
    ]  # fmt: skip
    installed = _run(pip, PIP_TIMEOUT_S)
    if installed.returncode != 0 and "does not support python" in installed.stderr:
        # This pip cannot install for that (older) Python: give the venv its own pip.
        with_pip = _run([python, "-m", "venv", "--clear", str(scratch)], 300)
        if with_pip.returncode != 0:
            return f"{python}: cannot make a venv with pip ({_last_line(with_pip.stderr)})"
        own = [str(scratch / "bin" / "python"), "-m", "pip", *pip[5:]]
        installed = _run(own, PIP_TIMEOUT_S)
    if installed.returncode != 0:
        text = installed.stderr + installed.stdout
        if "No matching distribution" in text or "Could not find a version" in text:
            if _unreachable(text):
                raise _offline(spec, text)
            return f"{Path(python).name} {_python_version(python)}: no wheel"
        raise (
            _offline(spec, text)
            if _unreachable(text)
            else RuntimeVenvError(f"pip could not install {spec.requirement}: {_last_line(text)}")
        )
    facts = _check(scratch / "bin" / "python", spec)
    meta = {"name": spec.name, "version": spec.version, **facts}
    (scratch / MARKER).write_text(json.dumps(meta, indent=2) + "\n")
    return facts


def _check(python: Path, spec: RuntimeSpec) -> dict[str, str]:
    """Runs a model in the venv (load, allocate, invoke); returns {python, numpy}."""
    from edge_agent.validate import package_root

    with tempfile.TemporaryDirectory(prefix="tfstudio-check-") as tmp:
        model = Path(tmp) / "add.tflite"
        model.write_bytes(check_model_bytes())
        code = (
            "import json, platform, sys, numpy\n"
            "from edge_agent.validate_child import validate\n"
            f"r = validate({str(model)!r})\n"
            "r['python'] = platform.python_version(); r['numpy'] = numpy.__version__\n"
            "print(json.dumps(r))\n"
        )
        proc = _run([str(python), "-c", code], CHECK_TIMEOUT_S, pythonpath=package_root())
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        result = {"ok": False, "error": _last_line(proc.stderr) or f"exit {proc.returncode}"}
    if not result.get("ok") or result.get("runtime", {}).get("name") != spec.name:
        raise RuntimeVenvError(
            f"the venv built for {spec.requirement} cannot run a model: "
            f"{_last_line(str(result.get('error', '')))}"
        )
    return {"python": str(result["python"]), "numpy": str(result["numpy"])}


def _repoint(final: Path, scratch: Path) -> None:
    """Points the activation scripts at the venv's final folder. The interpreter needs
    nothing: bin/python is a link to the base Python, and pyvenv.cfg beside it makes
    wherever it lies the venv (scripts with a shebang, such as bin/pip, keep the old path:
    use bin/python -m pip)."""
    for script in (final / "bin").glob("activate*"):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            script.write_text(script.read_text().replace(str(scratch), str(final)))


def _offline(spec: RuntimeSpec, text: str) -> RuntimeVenvError:
    return RuntimeVenvError(
        f"cannot build the venv for {spec.requirement}: the wheel {spec.requirement} is "
        f"not here and the package index cannot be reached ({_fetch_failure(text)})",
        hint=f"run once where the index is reachable (tfstudio compat MODEL --runtime "
        f"{spec.requirement}), or point {RUNTIMES_ENV} at a folder of built runtimes",
    )


def _fetch_failure(text: str) -> str:
    for line in text.splitlines():
        if "Could not fetch URL" in line:
            return line.strip().replace(" - skipping", "")[:300]
    return _last_line(text)


def _unreachable(text: str) -> bool:
    markers = ("Could not fetch URL", "NewConnectionError", "Network is unreachable",
               "Failed to establish", "Temporary failure in name resolution",
               "Connection refused", "ConnectTimeout", "Max retries exceeded",
               "ProxyError")  # fmt: skip
    return any(m in text for m in markers)


def _python_version(python: str) -> str:
    proc = _run([python, "-c", "import platform; print(platform.python_version())"], 30)
    return proc.stdout.strip() or "?"


def _run(cmd: list[str], timeout: float, pythonpath: str | None = None) -> Any:
    env = dict(os.environ)
    env.pop("PYTHONHOME", None)
    env.pop("VIRTUAL_ENV", None)
    env["PYTHONPATH"] = pythonpath or ""
    try:
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeVenvError(f"{Path(cmd[0]).name} took over {timeout:g} s") from exc
    except OSError as exc:
        raise RuntimeVenvError(f"cannot run {cmd[0]}: {exc.strerror}") from exc


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    return (errors or lines or [""])[-1][:300]


def main(argv: list[str] | None = None) -> int:
    """`python -m tfstudio.compat.venvs NAME==VERSION...`: builds (or finds) each release's
    venv under TFSTUDIO_RUNTIMES; what scripts/prepare-test-env.sh runs."""
    specs = [parse_spec(text) for text in (sys.argv[1:] if argv is None else argv)]
    for spec in specs:
        try:
            venv, built = ensure_venv(spec)
        except RuntimeVenvError as exc:
            print(f"{spec.label}: {exc}", file=sys.stderr)
            return 1
        state = "built" if built else "cached"
        print(f"{spec.label}: {state} in {venv.path} (Python {venv.python_version}, "
              f"numpy {venv.numpy_version})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
