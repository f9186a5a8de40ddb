"""Fill the model and device pickers of the deploy and bench forms from core values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.widgets import Select, SelectionList

if TYPE_CHECKING:
    from tfstudio.studio.overview import DeviceSummary
    from tfstudio.studio.types import ModelEntry


def set_models(
    select: Select[str],
    models: Sequence[ModelEntry],
    first: tuple[str, str] | None = None,
    prefer: str = ".int8",
) -> None:
    """Offers `models` (after `first`), keeping the current choice, else the first
    whose label ends with `prefer`, else the first."""
    current = select.value
    options = ([first] if first else []) + [(m.label, str(m.path)) for m in models]
    select.set_options(options)
    values = [v for _, v in options]
    if current in values:
        select.value = current
    elif first is not None:
        select.value = first[1]
    elif options:
        select.value = next((v for label, v in options if label.endswith(prefer)), values[0])


def set_devices(targets: SelectionList[str], devices: Sequence[DeviceSummary]) -> None:
    """Offers `devices`, keeping the ticked ones (`local` ticked by default)."""
    chosen = set(targets.selected) or {"local"}
    targets.clear_options()
    targets.add_options([(d.name, d.name, d.name in chosen) for d in devices])
