"""int16x8 on ops without a 16x8 kernel: the error names them and the way out, which works.

MobileNetV3Small (weights=None) uses HARD_SWISH, which has no 16x8 kernel.
"""

from __future__ import annotations

import json

import pytest

from tfstudio.convert import convert
from tfstudio.errors import ConversionError


def test_int16x8_names_the_unsupported_op_and_the_option(mobilenet_v3, tmp_path):
    model, rep = mobilenet_v3
    with pytest.raises(ConversionError) as exc:
        convert(model, tmp_path / "out", "int16x8", rep_data=rep)
    assert exc.value.message == (
        "int16x8: the converter failed: 16x8 quantization does not support op HARD_SWISH"
    )
    assert "--allow-float-fallback" in (exc.value.hint or "")
    assert list((tmp_path / "out").iterdir()) == []


def test_allow_float_fallback_converts_and_says_what_stayed_float(mobilenet_v3, tmp_path):
    model, rep = mobilenet_v3
    result = convert(model, tmp_path / "out", "int16x8", rep_data=rep, allow_float_fallback=True)
    variant = result.variant("int16x8")
    assert variant.float_fallback_ops.get("HARD_SWISH", 0) > 0
    # The heavy ops stayed 16x8: only the unsupported ones run in float.
    assert not {"CONV_2D", "DEPTHWISE_CONV_2D"} & set(variant.float_fallback_ops)
    manifest = json.loads(variant.manifest_path.read_text())
    assert manifest["converter_settings"]["float_fallback"] is True
    assert "TFLITE_BUILTINS" in manifest["converter_settings"]["supported_ops"]
    assert manifest["float_fallback_ops"]["HARD_SWISH"] == variant.float_fallback_ops["HARD_SWISH"]
    assert variant.to_json()["float_fallback_ops"] == variant.float_fallback_ops
