"""Snapshots of the dashboard, convert results, bench and jobs views at 80x24 and 160x48.

The protocol tests (test_*_view.py) check behaviour; these check the picture.
Update after a deliberate change with `pytest tests/tui --snapshot-update`.
"""

from __future__ import annotations

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
    # No periodic re-read while a picture is taken (a table refilled mid-shot
    # draws the same picture with other SVG rectangles).
    monkeypatch.setattr("tfstudio.tui.screens.jobs.REFRESH_S", 3600.0)
    monkeypatch.setattr("tfstudio.tui.screens.dashboard.JOBS_REFRESH_S", 3600.0)
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
