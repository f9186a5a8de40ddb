"""Agents of earlier releases, kept as test assets, for compatibility checks.

They are committed zipapps (see tests/assets/README.md for how each was built),
so these checks need no git history.
"""

from __future__ import annotations

import shutil
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "assets"

PREVIOUS_AGENT = "0.2.0"
"""Agent 0.2.0 (issue 8's merge): the last release without the session mode."""

AGENT_0_3_0 = "0.3.0"
"""Agent 0.3.0 as main had it before issue 12's merge: the service and on-device eval,
no session mode, and it copies an upload into the store (the merged agent is 0.4.0)."""


def old_agent_pyz(version: str, directory: Path) -> Path:
    """Copies the zipapp of agent `version` (a committed asset) into `directory`; returns it."""
    source = ASSETS / f"tfstudio-agent-{version}.pyz"
    target = directory / source.name
    shutil.copyfile(source, target)
    return target


def previous_agent_pyz(directory: Path) -> Path:
    """Copies agent 0.2.0's zipapp into `directory`; returns its path."""
    return old_agent_pyz(PREVIOUS_AGENT, directory)
