"""The converter and LiteRT run in a spawned worker process: a native crash or a cancel
costs one mode, never the caller.

The crash is real: TensorFlow 2.21's calibrator segfaults on a recurrent model
with a static batch (WHILE loop) in int8. It used to take the caller with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tfstudio.convert import ModesFailedError, convert
from tfstudio.errors import CancelledError
from tfstudio.operations import CancelToken, Stage, StageStarted, TargetFinished

WORKER = "tfstudio.convert.worker"


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def worker_pids() -> list[int]:
    """Conversion workers still running on this machine that this test process started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if WORKER.encode() in cmdline and int(stat[1]) == os.getpid():
            found.append(int(entry.name))
    return found


def test_a_segfault_in_the_converter_fails_that_mode_and_the_others_go_on(recurrent, tmp_path):
    out = tmp_path / "out"
    events: list = []
    with pytest.raises(ModesFailedError) as exc:
        convert(
            recurrent.lstm, out, "float32,int8,int16x8", rep_data=recurrent.tokens,
            fixed_batch=1, on_event=events.append,
        )  # fmt: skip
    crashed = "the converter crashed (SIGSEGV)"
    assert str(exc.value) == f"2 of 3 modes failed: int8, int16x8: {crashed}"
    result = exc.value.result
    assert [v.mode for v in result.variants] == ["float32"]
    assert [f.mode for f in result.failures] == ["int8", "int16x8"]
    assert _files(out) == ["lstm.float32.json", "lstm.float32.tflite"]
    failed = [(e.target, e.message) for e in events if isinstance(e, TargetFinished) and not e.ok]
    assert failed == [("int8", f"int8: {crashed}"), ("int16x8", f"int16x8: {crashed}")]
    # After the crash, a new worker loaded the model again and went on with int16x8.
    loads = [e for e in events if isinstance(e, StageStarted) and e.stage is Stage.LOAD]
    assert [e.target for e in loads] == ["convert", "int16x8"]
    assert worker_pids() == []


def test_cancel_kills_a_running_conversion_and_keeps_finished_models(digits, tmp_path):
    cancel = CancelToken()
    seen: list = []

    def progress(event):
        seen.append(event)
        if isinstance(event, StageStarted) and event.stage is Stage.CONVERT:
            if event.target == "int8":
                seen.append(("workers", worker_pids()))
                cancel.set()

    out = tmp_path / "out"
    started = time.monotonic()
    with pytest.raises(CancelledError) as exc:
        convert(digits.model, out, "float32,int8,int16x8", rep_data=digits.rep,
                on_event=progress, cancel=cancel)  # fmt: skip
    assert "cancelled during int8 (after 1 of 3 modes" in str(exc.value)
    running = next(item[1] for item in seen if isinstance(item, tuple))
    assert len(running) == 1  # the worker was alive, mid-conversion
    assert worker_pids() == []  # and is gone now
    assert time.monotonic() - started < 120
    assert _files(out) == ["digits.float32.json", "digits.float32.tflite"]
    assert [
        (type(e).__name__, e.target)
        for e in seen
        if isinstance(e, TargetFinished)
        or (isinstance(e, StageStarted) and e.stage is Stage.CONVERT)
    ] == [("StageStarted", "float32"), ("TargetFinished", "float32"), ("StageStarted", "int8")]


def test_the_calling_process_never_imports_tensorflow(mlp, tmp_path):
    code = (
        "import sys\n"
        "from tfstudio.convert import convert\n"
        f"result = convert({str(mlp.h5)!r}, {str(tmp_path / 'out')!r}, 'float32,int8',\n"
        f"                 rep_data={str(mlp.rep_npz)!r}, eval_data={str(mlp.eval_npz)!r})\n"
        "print(len(result.variants), 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["2", "False", "False"]
    # Nothing of the converter's or LiteRT's native logging reaches the caller's terminal.
    assert proc.stderr == ""


def test_a_mode_litert_cannot_load_fails_alone(mobilenet_all):
    # This untrained MobileNetV2's depthwise scales overflow int16x8: the converter
    # writes a model that LiteRT refuses to prepare. That mode fails, the rest is written.
    failure = mobilenet_all.failure("int16x8")
    message = failure.error.message
    assert message.startswith("int16x8: mobilenet_v2.int16x8.tflite does not load in LiteRT")
    assert "DEPTHWISE_CONV_2D" in message
    assert [v.mode for v in mobilenet_all.variants] == ["float32", "int8"]
    assert not (mobilenet_all.outdir / "mobilenet_v2.int16x8.tflite").exists()
    statuses = {v["mode"]: v["status"] for v in mobilenet_all.to_json()["variants"]}
    assert statuses == {"float32": "ok", "int8": "ok", "int16x8": "failed"}
