"""Quantization presets: `assets/presets/quantization.toml` as frozen dataclasses.

The modes are data. This module only reads and checks the file; the engine
applies a `Preset` to a converter field by field, with no per-mode branches.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any

from tfstudio.errors import ConfigError, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 only
    import tomli as tomllib

PRESETS_PATH = Path(__file__).resolve().parents[1] / "assets" / "presets" / "quantization.toml"
"""The preset file. `tfstudio/assets` links to the repository's `assets/`, so a
source checkout reads the one file and a wheel carries a copy of it."""


class Mode(str, Enum):
    """A conversion mode; its value is the name used on the command line and in file names."""

    FLOAT32 = "float32"
    DYNAMIC = "dynamic"
    FLOAT16 = "float16"
    INT8 = "int8"
    INT16X8 = "int16x8"


DEFAULT_MODES = (Mode.FLOAT32,)
"""What `--quant` means when it is not given."""


@dataclass(frozen=True)
class Preset:
    """Converter settings for one mode, named as in the tf.lite API."""

    mode: Mode
    description: str
    optimizations: tuple[str, ...]
    supported_ops: tuple[str, ...]
    supported_types: tuple[str, ...]
    needs_rep_data: bool
    inference_input_type: str | None = None
    inference_output_type: str | None = None
    integer_compute: str | None = None
    float_fallback_ops: tuple[str, ...] = ()

    @property
    def io_dtypes(self) -> tuple[str, str]:
        """(input, output) dtype the converted model must have where the source's are float."""
        return self.inference_input_type or "float32", self.inference_output_type or "float32"

    def supported_ops_with(self, *, float_fallback: bool, select_tf_ops: bool) -> tuple[str, ...]:
        """Returns the ops sets to allow: the preset's, plus its float fallback and/or Flex."""
        ops = list(self.supported_ops)
        extra = list(self.float_fallback_ops) if float_fallback else []
        if select_tf_ops:
            extra.append("SELECT_TF_OPS")
        return tuple(dict.fromkeys(ops + extra))

    def settings(
        self, *, float_fallback: bool = False, select_tf_ops: bool = False
    ) -> dict[str, Any]:
        """Returns the converter settings as a JSON-able dict (for manifests)."""
        return {
            "optimizations": list(self.optimizations),
            "supported_ops": list(
                self.supported_ops_with(float_fallback=float_fallback, select_tf_ops=select_tf_ops)
            ),
            "supported_types": list(self.supported_types),
            "inference_input_type": self.io_dtypes[0],
            "inference_output_type": self.io_dtypes[1],
            "representative_dataset": self.needs_rep_data,
            "float_fallback": bool(float_fallback and self.float_fallback_ops),
            "select_tf_ops": select_tf_ops,
        }


_FIELDS = {
    "description": str,
    "optimizations": list,
    "supported_ops": list,
    "supported_types": list,
    "needs_rep_data": bool,
}
_OPTIONAL = {
    "inference_input_type": str,
    "inference_output_type": str,
    "integer_compute": str,
    "float_fallback_ops": list,
}


@lru_cache(maxsize=4)
def load_presets(path: Path = PRESETS_PATH) -> dict[Mode, Preset]:
    """Returns every preset of the file, keyed and ordered by `Mode`.

    Raises ConfigError when the file is missing, not TOML, lacks a mode, has
    an unknown one, or a field of the wrong type.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the quantization presets {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    known = {m.value for m in Mode}
    unknown = sorted(set(raw) - known)
    missing = sorted(known - set(raw))
    if unknown or missing:
        raise ConfigError(
            f"{path}: unknown modes {unknown or '[]'}, missing modes {missing or '[]'}"
        )
    presets: dict[Mode, Preset] = {}
    for mode in Mode:
        table = raw[mode.value]
        values: dict[str, Any] = {}
        for name, kind in {**_FIELDS, **_OPTIONAL}.items():
            if name not in table:
                if name in _FIELDS:
                    raise ConfigError(f"{path}: [{mode.value}] has no '{name}'")
                continue
            if not isinstance(table[name], kind):
                raise ConfigError(f"{path}: [{mode.value}] {name} must be a {kind.__name__}")
            values[name] = tuple(table[name]) if kind is list else table[name]
        extra = sorted(set(table) - set(_FIELDS) - set(_OPTIONAL))
        if extra:
            raise ConfigError(f"{path}: [{mode.value}] has unknown fields {extra}")
        presets[mode] = Preset(mode=mode, **values)
    return presets


def parse_modes(spec: str | Iterable[str | Mode] | None) -> tuple[Mode, ...]:
    """Returns the modes named by `spec` ("int8,float16", "all", a list, or None → default).

    Order follows `Mode`; duplicates are dropped. Raises UsageError for an unknown name.
    """
    if spec is None:
        return DEFAULT_MODES
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [m.value if isinstance(m, Mode) else str(m).strip().lower() for m in items]
    names = [n for n in names if n]
    if not names:
        raise UsageError("no quantization mode given", hint=_choices())
    if "all" in names:
        return tuple(Mode)
    wanted = set()
    for name in names:
        try:
            wanted.add(Mode(name))
        except ValueError:
            raise UsageError(f"unknown quantization mode '{name}'", hint=_choices()) from None
    return tuple(m for m in Mode if m in wanted)


def _choices() -> str:
    return "choose from " + ", ".join(m.value for m in Mode) + " or all"
