"""Fill the model and device pickers of the deploy, bench and pipeline forms from core values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.widgets import Select

from tfstudio.tui.widgets.ticks import TickList

if TYPE_CHECKING:
    from tfstudio.studio.overview import DeviceSummary
    from tfstudio.studio.types import ModelEntry

DEFAULT_DEVICES = ("local",)
"""Ticked when a device list is first filled, in every view: the built-in device."""


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


def set_devices(targets: TickList, devices: Sequence[DeviceSummary] | Sequence[str]) -> None:
    """Offers `devices` (summaries or names), keeping the user's ticks; `local` is ticked
    on the first fill."""
    names = [d if isinstance(d, str) else d.name for d in devices]
    targets.fill(names, DEFAULT_DEVICES)
