"""Builds the zipapp of the agent as it was at a commit: the old agents in this folder.

    python tests/assets/make_agent_pyz.py COMMIT OUTPUT.pyz

Needs the repository's history (it runs `git archive COMMIT edge_agent`); the
tests that use the result do not. The archive holds the sources only, stored
in sorted order with fixed times, so the same commit gives the same bytes.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
MAIN = "import sys\nfrom edge_agent.cli import main\nsys.exit(main())\n"


def build(commit: str, output: Path) -> None:
    """Writes the agent of `commit` to `output` as an executable zipapp."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, "edge_agent"], capture_output=True, check=True
    ).stdout
    files = {"__main__.py": MAIN.encode()}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            if member.isfile() and member.name.endswith(".py") and handle is not None:
                files[member.name] = handle.read()
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[name])
    output.write_bytes(b"#!/usr/bin/env python3\n" + body.getvalue())


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    build(sys.argv[1], Path(sys.argv[2]))
