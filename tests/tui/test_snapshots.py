"""Snapshots of the dashboard, convert results, bench and jobs views at 80x24 and 160x48.

The protocol tests (test_*_view.py) check behaviour; these check the picture.
Update after a deliberate change with `pytest tests/tui --snapshot-update`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input

from tests.helpers import model_cache
from tests.tui import snapshot_world
from tests.tui.conftest import NO_DOCKER, wait_for
from tfstudio.studio import Studio
from tfstudio.tui.app import make_app

SIZES = [(80, 24), (160, 48)]


@pytest.fixture(scope="module")
def snapshot_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The four MLP variants, converted once per machine (tests/helpers/model_cache.py)."""
    root, _ = model_cache.cached_copy(
        "snapshot-models", snapshot_world.make_models, tmp_path_factory.mktemp("snapshot-models"),
        sources=[snapshot_world],
    )  # fmt: skip
    return {mode: root / f"mlp.{mode}.tflite" for mode in snapshot_world.METRICS}


@pytest.fixture
def world(snapshot_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TFSTUDIO_HOME", str(snapshot_world.SNAPSHOT_HOME))
    monkeypatch.setenv("DOCKER_HOST", NO_DOCKER)
    monkeypatch.setattr(sys, "executable", snapshot_world.fixed_python())
    # No periodic re-read while a picture is taken (a table refilled mid-shot
    # draws the same picture with other SVG rectangles).
    monkeypatch.setattr("tfstudio.tui.screens.jobs.REFRESH_S", 3600.0)
    monkeypatch.setattr("tfstudio.tui.screens.dashboard.JOBS_REFRESH_S", 3600.0)
    monkeypatch.setattr("tfstudio.tui.screens.dashboard.WORLD_REFRESH_S", 3600.0)
    return snapshot_world.build(snapshot_models)


def _settled(key: str | None, ready: Any, *then: str) -> Any:
    async def run_before(pilot: Any) -> None:
        await wait_for(pilot, lambda: pilot.app.screen.query("DataTable"), timeout=30)
        if key is not None:
            await pilot.press(key)
        await wait_for(pilot, lambda: ready(pilot.app.screen), timeout=30)
        if then:
            await pilot.press(*then)
        await pilot.app.workers.wait_for_complete()
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        # Draw every table afresh: how a table's cached lines were built (before or
        # after its rows arrived, focused or not) changes the SVG's rectangles, not
        # the picture, and the comparison is of the SVG text.
        for table in pilot.app.screen.query(DataTable):
            table._clear_caches()
            table.refresh()
        await pilot.pause(0.3)

    return run_before


def _rows(selector: str, count: int) -> Any:
    return lambda screen: (
        bool(screen.query(selector)) and screen.query_one(selector).row_count >= count
    )


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard(snap_compare: Any, world: Path, size: tuple[int, int]) -> None:
    app = make_app(Studio())
    assert snap_compare(app, terminal_size=size, run_before=_settled(None, _rows("#models", 4)))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_convert_results(snap_compare: Any, world: Path, size: tuple[int, int]) -> None:
    app = make_app(Studio())
    assert snap_compare(app, terminal_size=size, run_before=_settled("3", _rows("#results", 4)))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_bench(snap_compare: Any, world: Path, size: tuple[int, int]) -> None:
    app = make_app(Studio())
    assert snap_compare(app, terminal_size=size, run_before=_settled("5", _rows("#bench-table", 3)))


def _engine_state(screen: Any) -> bool:
    found = screen.query("#engine-state")
    return bool(found) and "not reachable" in str(found.first().render())


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_jobs_engine_down(snap_compare: Any, world: Path, size: tuple[int, int]) -> None:
    app = make_app(Studio())
    assert snap_compare(app, terminal_size=size, run_before=_settled("2", _engine_state))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_new_job_refuses_latest(snap_compare: Any, world: Path, size: tuple[int, int]) -> None:
    app = make_app(Studio())
    typed = ("n", "wait:300", *"tensorflow/tensorflow:latest")
    assert snap_compare(app, terminal_size=size, run_before=_settled("2", _engine_state, *typed))


def _demo_report() -> Any:
    from tfstudio.workflows.demo.report import DemoReport, DemoRow, StageTime, Training

    rows = [
        DemoRow(m, Path(f"/data/demo/digits.{m}.tflite"), size, None, acc, rt, p50, p50 * 1.6)
        for m, size, acc, rt, p50 in (
            ("float32", 91_000, 0.9722, "2.3.0", 0.051),
            ("dynamic", 25_000, 0.9694, "2.17.0", 0.061),
            ("float16", 47_000, 0.9722, "2.3.0", 0.052),
            ("int8", 26_000, 0.9667, "2.3.0", 0.038),
        )
    ]
    rows.append(
        DemoRow(
            "int16x8",
            failed_step="deploy",
            error="the device's runtime lacks int16x8 kernels",
            hint="tfstudio agent install local --runtime ai-edge-litert",
        )
    )
    stages = tuple(
        StageTime(name, seconds)
        for name, seconds in (
            ("train", 9.2), ("export", 1.1), ("convert", 12.4), ("deploy", 3.3), ("bench", 4.0)
        )
    )  # fmt: skip
    training = Training("process", "no engine here", Path("/data/demo/saved_model"), 8, 0.9722)
    return DemoReport(Path("/data/demo"), "local", training, tuple(rows), stages, 0.9722, "2.21.0")


def _dialog(make: Any) -> Any:
    async def run_before(pilot: Any) -> None:
        await _settled(None, _rows("#models", 4))(pilot)
        pilot.app.push_screen(make())
        await pilot.pause(0.3)
        await pilot.app.workers.wait_for_complete()
        # A focused field's cursor blinks: a picture taken in the off phase differs.
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause(0.3)

    return run_before


def _confirm() -> Any:
    from tfstudio.tui.modals.confirm import ConfirmModal

    question = (
        "Stop job 4c1d2e3f4a5b (tfstudio-4c1d2e3f4a5b)?\n"
        "SIGTERM, then SIGKILL if it has not ended in time."
    )
    return ConfirmModal("Stop job", question, "Stop")


def _host_key() -> Any:
    from tfstudio.studio.types import HostKeyOffer
    from tfstudio.tui.modals.hostkey import HostKeyModal

    fingerprint = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
    offer = HostKeyOffer(
        "cam1", "192.0.2.10", 2222, "[192.0.2.10]:2222", "ssh-ed25519", "AAAA", fingerprint,
        "unknown",
    )  # fmt: skip
    return HostKeyModal(offer)


def _demo_result() -> Any:
    from tfstudio.tui.modals.demo_result import DemoResultModal

    return DemoResultModal(_demo_report())


def _add_device() -> Any:
    from tfstudio.tui.modals.add_device import AddDeviceModal

    return AddDeviceModal(lambda device: device)


DIALOGS = {
    "confirm": _confirm,
    "host_key": _host_key,
    "demo_result": _demo_result,
    "add_device": _add_device,
}
"""Each dialog (the new-job form has its own test above), made as the views make it."""


@pytest.mark.parametrize("dialog", list(DIALOGS))
def test_dialog_at_80x24_shows_its_buttons(snap_compare: Any, world: Path, dialog: str) -> None:
    app = make_app(Studio())
    assert snap_compare(app, terminal_size=(80, 24), run_before=_dialog(DIALOGS[dialog]))


def test_add_device_at_its_last_field_at_80x24(snap_compare: Any, world: Path) -> None:
    typed = ("6", "wait:500", "a", "wait:300", *"pi1", "tab", *"192.0.2.7", "tab", "tab")
    typed += ("tab", "tab", *"python3.11", "tab")  # agent home: the last field
    app = make_app(Studio())
    assert snap_compare(
        app, terminal_size=(80, 24), run_before=_settled(None, _rows("#models", 4), *typed)
    )
