"""The convert view against real TensorFlow: every mode, the results table, cancel."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input, Static

from tests.tui.conftest import Recorder, table_rows, wait_for
from tfstudio.operations import StageStarted, TargetFinished
from tfstudio.tui.app import StudioApp
from tfstudio.tui.messages import ConvertRequest, ConvertRequested

MODES = ("float32", "dynamic", "float16", "int8", "int16x8")


async def _fill_form(pilot: Any, source: str, rep: str, evals: str, outdir: str) -> None:
    for widget_id, text in (("source", source), ("rep", rep), ("eval", evals), ("outdir", outdir)):
        await pilot.click(f"#{widget_id}")
        await pilot.press(*text)
    for mode in MODES[1:]:
        await pilot.click(f"#mode-{mode}")


async def test_convert_every_mode_and_read_the_results_table(
    app: StudioApp, recorder: Recorder, mlp, tmp_path
) -> None:
    async with app.run_test(size=(160, 48), message_hook=recorder) as pilot:
        await pilot.press("3")
        await _fill_form(
            pilot, str(mlp.h5), str(mlp.rep_npz), str(mlp.eval_npz), str(tmp_path / "o")
        )
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: recorder.of("Converted"), timeout=300)
        await pilot.pause(0.2)

        # The protocol first: request, progress, result, in that order.
        assert recorder.names({"ConvertRequested", "Progress", "Converted"}) == [
            "ConvertRequested",
            "Progress",
            "Converted",
        ]
        events = [m.event for m in recorder.of("Progress")]
        started = [e.target for e in events if isinstance(e, StageStarted) and e.stage == "convert"]
        finished = [e.target for e in events if isinstance(e, TargetFinished)]
        assert started == list(MODES) and finished == list(MODES)

        # Then the picture: one row per mode with size, ratio, min runtime and agreement.
        rows = table_rows(app, "#results")
        assert [r[0] for r in rows] == list(MODES)
        by_mode = {r[0]: r for r in rows}
        assert by_mode["float32"][2] == "1.00x"
        assert float(by_mode["int8"][2].rstrip("x")) < 0.5
        assert by_mode["dynamic"][3] == "2.17.0"
        assert all(r[4].endswith("%") for r in rows)
        for mode in MODES:
            assert (tmp_path / "o" / f"mlp.{mode}.tflite").is_file()

        # A row opens the inspection: ops with versions, tensors, quantization.
        await pilot.click("#results")
        await pilot.press("down", "down", "down")  # int8
        inspect = str(app.screen.query_one("#inspect", Static).render())
        assert "mlp.int8.tflite" in inspect and "FULLY_CONNECTED v" in inspect
        assert "scale" in inspect


async def test_escape_cancels_between_modes_and_says_so(
    app: StudioApp, recorder: Recorder, mlp, tmp_path
) -> None:
    out = tmp_path / "cancelled"
    async with app.run_test(size=(120, 40), message_hook=recorder) as pilot:
        await pilot.press("3")
        await _fill_form(pilot, str(mlp.h5), str(mlp.rep_npz), str(mlp.eval_npz), str(out))
        await pilot.press("ctrl+r")

        def first_mode_done() -> bool:
            return any(isinstance(m.event, TargetFinished) for m in recorder.of("Progress"))

        await wait_for(pilot, first_mode_done, timeout=300)
        await pilot.press("escape")
        status = app.screen.query_one("#convert-status", Static)
        await wait_for(pilot, lambda: "cancelled" in str(status.render()), timeout=120)
        assert not recorder.of("Converted")
        written = sorted(p.name for p in out.glob("*.tflite"))
        assert 1 <= len(written) < len(MODES)
        # The app is alive and the button usable again.
        assert not app.screen.query_one("#convert").disabled
        assert app.screen.query_one("#source", Input).value == str(mlp.h5)


async def test_bad_source_is_one_line_notification(app: StudioApp, tmp_path) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await pilot.click("#source")
        await pilot.press(*str(tmp_path / "missing.keras"))
        await pilot.press("enter")
        status = app.screen.query_one("#convert-status", Static)
        await wait_for(pilot, lambda: "failed" in str(status.render()), timeout=60)
        notes = [n.message for n in app._notifications]
        assert any("missing.keras" in n for n in notes)
        assert all("Traceback" not in n for n in notes)


async def test_a_mode_that_crashes_is_a_failed_row_beside_the_written_ones(
    app: StudioApp, recorder: Recorder, recurrent, tmp_path
) -> None:
    """TensorFlow's calibrator really segfaults on this LSTM in int8 (tests/convert's
    isolation test): float32 is written and shown, int8 is a failed row with its error."""
    out = tmp_path / "o"
    request = ConvertRequest(
        str(recurrent.lstm), str(out), ["float32", "int8"], str(recurrent.tokens), None,
        fixed_batch=1,
    )  # fmt: skip
    async with app.run_test(size=(160, 48), message_hook=recorder) as pilot:
        await pilot.press("3")
        app.screen.post_message(ConvertRequested(request))
        await wait_for(pilot, lambda: recorder.of("Converted"), timeout=300)
        await pilot.pause(0.2)

        events = [m.event for m in recorder.of("Progress")]
        finished = {e.target: e for e in events if isinstance(e, TargetFinished)}
        assert {mode: e.ok for mode, e in finished.items()} == {"float32": True, "int8": False}
        assert "the converter crashed (SIGSEGV)" in finished["int8"].message
        assert finished["int8"].data["status"] == "failed"

        rows = table_rows(app, "#results")
        assert [r[:2] for r in rows] == [["float32", rows[0][1]], ["int8", "failed"]]
        assert rows[0][1].endswith("KiB")
        status = str(app.screen.query_one("#convert-status", Static).render())
        assert "1 variants in" in status and "1 failed: int8" in status
        assert any("1 of 2 modes failed" in n.message for n in app._notifications)
        # The mode that was written is in the catalogue; the failed one is not.
        assert [m.mode for m in app.studio.models() if m.path.parent == out] == ["float32"]

        await pilot.click("#results")
        await pilot.press("down")  # the failed row shows its error
        await pilot.pause(0.2)
        inspect = str(app.screen.query_one("#inspect", Static).render())
        assert "int8" in inspect and "SIGSEGV" in inspect
