"""The quantization presets file and mode parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfstudio.convert.presets import PRESETS_PATH, Mode, load_presets, parse_modes
from tfstudio.errors import ConfigError, UsageError


def test_shipped_presets_cover_every_mode_as_required():
    presets = load_presets()
    assert list(presets) == list(Mode)
    assert presets[Mode.INT8].supported_ops == ("TFLITE_BUILTINS_INT8",)
    assert presets[Mode.INT8].inference_input_type == "int8"
    assert presets[Mode.INT8].inference_output_type == "int8"
    assert presets[Mode.INT16X8].supported_ops == (
        "EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8",
    )
    assert presets[Mode.FLOAT16].supported_types == ("float16",)
    assert presets[Mode.DYNAMIC].optimizations == ("DEFAULT",)
    assert not presets[Mode.DYNAMIC].needs_rep_data
    assert {m for m, p in presets.items() if p.needs_rep_data} == {Mode.INT8, Mode.INT16X8}


def test_parse_modes():
    assert parse_modes(None) == (Mode.FLOAT32,)
    assert parse_modes("all") == tuple(Mode)
    assert parse_modes("int8, FLOAT16,int8") == (Mode.FLOAT16, Mode.INT8)
    with pytest.raises(UsageError, match="unknown quantization mode 'int4'"):
        parse_modes("float32,int4")
    with pytest.raises(UsageError):
        parse_modes(",")


def test_a_broken_presets_file_is_a_config_error(tmp_path: Path):
    text = PRESETS_PATH.read_text()
    bad_type = tmp_path / "bad_type.toml"
    bad_type.write_text(text.replace('supported_types = ["float16"]', 'supported_types = "x"'))
    with pytest.raises(ConfigError, match=r"\[float16\] supported_types must be a list"):
        load_presets(bad_type)
    missing = tmp_path / "missing.toml"
    missing.write_text(text.replace("[int16x8]", "[int4]"))
    with pytest.raises(ConfigError, match="unknown modes"):
        load_presets(missing)
    with pytest.raises(ConfigError, match="cannot read"):
        load_presets(tmp_path / "absent.toml")
