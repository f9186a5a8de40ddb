"""The views of the app, by name: the key that shows each, its title and what it is for.

Kept apart from `app.py` so that the screens (which the app imports) can draw the
view bar without importing the app.
"""

from __future__ import annotations

VIEWS: dict[str, tuple[str, str, str]] = {
    "dashboard": ("1", "Dashboard", "jobs, models and devices at a glance"),
    "jobs": ("2", "Jobs", "training containers and engines"),
    "convert": ("3", "Convert", "SavedModel/Keras to TFLite in every mode"),
    "deploy": ("4", "Deploy", "push a model to devices, with a health gate"),
    "bench": ("5", "Bench", "latency on devices, history and export"),
    "devices": ("6", "Devices", "add, edit, trust, install the agent, check"),
    "pipeline": ("7", "Pipeline", "watch a folder: new SavedModels to devices, hands-free"),
}
"""View name: (key, title, what it is for), in the order of their keys."""
