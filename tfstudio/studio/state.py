"""What every part of the facade shares: TFSTUDIO_HOME, the config, the connector, and a
model file's facts (each operation that takes a model reads them first, so a bad file is
one error, not one per device)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tfstudio.config import Config

if TYPE_CHECKING:
    from tfstudio.fleet.connector import Connector
    from tfstudio.models.facts import ModelFacts

DEFAULT_WORKERS = 8
"""Devices at once when the config does not say (`[fleet] fanout`)."""


class StudioState:
    """The state the facade's parts share; `Studio` fills it in."""

    home: Path
    config: Config
    connector: Connector

    @property
    def workers(self) -> int:
        """Devices at once in a fan-out: the config's, else DEFAULT_WORKERS."""
        return max(1, self.config.fanout or DEFAULT_WORKERS)

    def inspect(self, model: str | Path) -> ModelFacts:
        """Returns a .tflite file's facts (no tensorflow). Raises ModelFormatError.

        The sha256 comes from the file's digest record while its identity holds (a
        conversion or an earlier inspect wrote it), so an unchanged model is not read
        and hashed again; otherwise it is hashed and recorded.
        """
        from tfstudio.digest import RECORDS_DIR, file_identity, recorded_sha256, remember_sha256
        from tfstudio.models.facts import inspect_model

        path, records = Path(model), self.home / RECORDS_DIR
        try:
            before = path.stat()
            known = recorded_sha256(path, records) if path.is_file() else None
        except OSError:
            return inspect_model(path)  # its one-line error names the problem
        facts = inspect_model(path, sha256=known)
        if known is None:
            try:
                if file_identity(path.stat()) == file_identity(before):  # unchanged while read
                    remember_sha256(path, facts.sha256, before, records)
            except OSError:
                pass
        return facts
