"""Agents of other releases, built from the repository's history, for compatibility checks."""

from __future__ import annotations

import io
import subprocess
import tarfile
import zipapp
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PREVIOUS_AGENT = "ce96866963f436b36cf2ac6a6d1127d1828cc7f1"
"""The commit of agent 0.2.0 (issue 8's merge), the last release without the session mode."""


class HistoryMissing(Exception):
    """The checkout lacks the commit (a shallow clone, or a tarball)."""


def previous_agent_pyz(directory: Path) -> Path:
    """Builds agent 0.2.0's zipapp from its commit into `directory`; returns its path.

    Raises HistoryMissing when git cannot produce that commit's `edge_agent`.
    """
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", PREVIOUS_AGENT, "edge_agent"], capture_output=True
    )
    if archive.returncode != 0:
        raise HistoryMissing(
            f"agent 0.2.0 is built from commit {PREVIOUS_AGENT[:12]}, which this checkout "
            f"lacks (a shallow clone?): {archive.stderr.decode().strip()}"
        )
    staging = directory / "agent-0.2.0"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(staging, filter="data")
    (staging / "__main__.py").write_text(
        "import sys\nfrom edge_agent.cli import main\nsys.exit(main())\n"
    )
    target = directory / "tfstudio-agent-0.2.0.pyz"
    zipapp.create_archive(staging, target, interpreter="/usr/bin/env python3")
    return target
