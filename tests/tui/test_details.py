"""The small things (issue 19's minor list) that separate a demo from a tool: each state
the UI shows is the state the core is in, each fix names a key, each choice starts
where the user left it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from textual.widgets import Input, Label, Static

from tests.fleet.conftest import Lab
from tests.tui.conftest import table_rows, wait_for
from tests.tui.screen_text import screen_text
from tfstudio.studio import Studio
from tfstudio.studio.types import BenchSettings, Device, Engine
from tfstudio.tui.app import StudioApp, make_app

FAST = BenchSettings(runs=5, warmup=1, min_seconds=0, warmup_min_seconds=0)


async def _view(pilot: Any, key: str, ready: str) -> Any:
    await pilot.press(key)
    screen = await wait_for(pilot, lambda: pilot.app.screen.query(ready) and pilot.app.screen)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    return screen


async def test_a_cancelled_demo_says_so_at_once(
    app: StudioApp, tensorflow_child: None, tensorflow_runtime: None
) -> None:
    """The demo trains in a TensorFlow child before Escape reaches it (the full tier)."""
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "press d" in str(table_rows(app, "#models")))
        await pilot.press("d")
        readiness = app.screen.query_one("#readiness", Static)
        await wait_for(pilot, lambda: "esc cancels" in str(readiness.render()), timeout=60)
        await pilot.press("escape")
        await wait_for(pilot, lambda: "demo cancelled" in str(readiness.render()), timeout=300)
        assert "esc cancels" not in str(readiness.render())
        assert "cancelled" in str(app.screen.query_one("#details").render())


async def test_the_demo_asks_which_device_when_there_are_several(app: StudioApp) -> None:
    from tfstudio.tui.modals.choice import ChoiceModal

    app.studio.add_device(Device(name="cam1", host="192.0.2.10"))
    async with app.run_test(size=(100, 32)) as pilot:
        await wait_for(pilot, lambda: len(table_rows(app, "#devices")) == 2)
        await pilot.press("d")
        dialog = await wait_for(pilot, lambda: isinstance(app.screen, ChoiceModal) and app.screen)
        assert [c for c, _ in dialog.choices] == ["local", "cam1"]
        await pilot.press("escape")
        assert not app.screen.busy  # nothing started


async def test_a_refused_deploy_keeps_its_bar_offers_the_trust_dialog_and_no_rollback(
    app: StudioApp, lab: Lab, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    from tfstudio.tui.modals.confirm import ConfirmModal
    from tfstudio.tui.modals.hostkey import HostKeyModal

    lab.add("newcam", trust=False, install=False)
    model = tmp_path / "mlp.int8.tflite"
    shutil.copy(tiny_models["int8"], model)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _view(pilot, "4", "#targets")
        targets = screen.query_one("#targets")
        await wait_for(pilot, lambda: targets.option_count == 2)
        targets.deselect_all()
        targets.select("newcam")
        screen.query_one("#model-path", Input).value = str(model)
        await pilot.press("ctrl+r")
        dialog = await wait_for(
            pilot, lambda: isinstance(app.screen, ConfirmModal) and app.screen, timeout=120
        )
        await pilot.pause(0.2)
        assert "Unknown host key" in screen_text(app)
        row = screen.query_one("#deploy-progress").rows["newcam"]
        assert row.bar.percentage is None or row.bar.percentage < 1  # nothing was sent
        status = str(screen.query_one("#deploy-status").render())
        assert "not ok on: newcam" in status and "roll" not in status  # nothing to roll back
        await pilot.press("y")  # read its key: the host-key dialog shows the fingerprint
        modal = await wait_for(pilot, lambda: isinstance(app.screen, HostKeyModal) and app.screen)
        assert lab.servers[0].host_fingerprint in str(modal.query_one("#hostkey-body").render())
        await pilot.press("t")
        await wait_for(pilot, lambda: "ctrl+r deploys again" in str(screen.query_one(
            "#deploy-status").render()), timeout=60)  # fmt: skip
        assert dialog is not app.screen


async def test_a_failed_convert_leaves_no_row_queued_and_is_titled_by_what_failed(
    app: StudioApp, tmp_path: Path
) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _view(pilot, "3", "#results")
        screen.query_one("#source", Input).value = str(tmp_path / "missing.keras")
        await pilot.press("ctrl+r")
        status = screen.query_one("#convert-status", Static)
        await wait_for(pilot, lambda: "failed" in str(status.render()), timeout=60)
        await pilot.pause(0.2)
        texts = screen.query_one("#convert-progress").texts
        assert texts and "queued" not in texts.values()
        titles = [n.title for n in app._notifications]
        assert "convert failed" in titles and not any(t.endswith("Error") for t in titles)


async def test_help_and_palette_name_every_key(app: StudioApp) -> None:
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        text = str(app.screen.query_one("#help-text").render())
        for key in ("l  live", "x  remove", "i  install", "ctrl+q", "e  edit", "s  serve"):
            assert key in text, key
        help_lines = text.splitlines()
        assert max(len(line) for line in help_lines) <= 62  # no entry wraps at 80 columns
        await pilot.press("escape")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Live metrics", "Remove a device", "Install the agent", "Edit a device",
                      "Serve the agent", "Add an engine", "Quit"):  # fmt: skip
            assert title in titles, title


async def test_the_engine_picker_starts_on_the_current_engine_and_adds_one(
    app: StudioApp,
) -> None:
    from tfstudio.tui.modals.add_engine import AddEngineModal
    from tfstudio.tui.modals.engine_pick import EnginePickModal

    app.studio.training.add_engine(Engine(name="gpubox", url="tcp://127.0.0.1:1"))
    names = [e.name for e in app.studio.training.engines()]
    async with app.run_test(size=(100, 32)) as pilot:
        screen = await _view(pilot, "2", "#job-table")
        screen.use_engine("gpubox")
        await wait_for(pilot, lambda: screen.board is not None and screen.board.engine == "gpubox")
        await pilot.press("e")
        picker = await wait_for(
            pilot, lambda: isinstance(app.screen, EnginePickModal) and app.screen, timeout=120
        )
        assert picker.query_one("#engine-options").highlighted == names.index("gpubox")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AddEngineModal))
        await pilot.press(*"other", "tab", *"tcp://127.0.0.1:2", "enter")
        await wait_for(pilot, lambda: "other" in [e.name for e in app.studio.training.engines()])
        await wait_for(pilot, lambda: screen.engine_name == "other")  # and it is shown


async def test_an_engine_error_brings_the_new_job_form_back_filled(app: StudioApp) -> None:
    """DOCKER_HOST points nowhere: the request passes the form's checks, the engine
    cannot start it, and the form comes back with what was typed and why."""
    from tfstudio.tui.modals.new_job import NewJobModal

    async with app.run_test(size=(100, 32)) as pilot:
        await _view(pilot, "2", "#job-table")
        await pilot.press("n")
        form = await wait_for(pilot, lambda: isinstance(app.screen, NewJobModal) and app.screen)
        await pilot.press(*"tfstudio-test/busybox:1.35.0", "tab", *"echo hello")
        form.query_one("#job-cpus", Input).value = "0.5"
        await pilot.press("ctrl+r")
        again = await wait_for(
            pilot, lambda: isinstance(app.screen, NewJobModal) and app.screen is not form
            and app.screen, timeout=60,
        )  # fmt: skip
        await pilot.pause(0.2)
        assert again.query_one("#job-command", Input).value == "echo hello"
        assert again.query_one("#job-cpus", Input).value == "0.5"
        assert again.image_field.value == "tfstudio-test/busybox:1.35.0"
        assert "not reachable" in str(again.query_one("#job-error").render())


async def test_the_theme_is_kept_across_restarts(app: StudioApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        app.theme = "nord"
        await pilot.pause(0.2)
    again = make_app(Studio())
    assert again.theme == "nord"


async def test_one_or_two_runs_are_numbers_not_a_solid_block(
    app: StudioApp, tiny_models: dict[str, Path]
) -> None:
    studio = app.studio
    for _ in range(2):
        (row,) = studio.bench(studio.resolve("local"), tiny_models["int8"], FAST)
        assert row.ok
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _view(pilot, "5", "#bench-table")
        await wait_for(pilot, lambda: table_rows(app, "#bench-table"))
        screen.query_one("#bench-table").focus()
        await pilot.pause(0.2)
        label = str(screen.query_one("#spark-label", Label).render())
        assert label.count(",") == 1 and "runs" in label  # the two p50s, as numbers
        assert screen.query_one("#bench-spark").data == []


async def test_models_of_the_same_name_say_their_folder(
    app: StudioApp, tiny_models: dict[str, Path], studio_home: Path
) -> None:
    for folder in ("a", "b"):
        out = studio_home / "models" / folder
        out.mkdir(parents=True)
        model = out / "mlp.int8.tflite"
        shutil.copy(tiny_models["int8"], model)
        sha = __import__("hashlib").sha256(model.read_bytes()).hexdigest()
        manifest = {"model": {"path": model.name, "sha256": sha}, "mode": "int8"}
        model.with_suffix(".json").write_text(json.dumps(manifest))
    async with app.run_test(size=(120, 40)) as pilot:
        rows = await wait_for(pilot, lambda: len(table_rows(app, "#models")) == 2 and
                              table_rows(app, "#models"))  # fmt: skip
        assert sorted(r[0] for r in rows) == ["mlp (a)", "mlp (b)"]


def test_the_default_output_of_a_version_folder_is_named_after_the_model(
    tmp_path: Path,
) -> None:
    studio = Studio()
    assert studio.default_outdir(tmp_path / "exports" / "digits" / "3") == (
        studio.home / "models" / "digits-3"
    )
    assert studio.default_outdir(tmp_path / "mlp.keras") == studio.home / "models" / "mlp"


async def test_the_device_hint_names_the_key_not_the_command(app: StudioApp) -> None:
    from tfstudio.tui.widgets.hints import ui_hint

    assert ui_hint("start it: tfstudio agent serve cam1 --enable") == (
        "s in 6 Devices (select cam1): serve the agent"
    )
    assert ui_hint("stop it first (tfstudio stop 0123abcd4567) or pass --force") == (
        "s in 2 Jobs: stop it first"
    )
    assert "tfstudio" not in (ui_hint("run: tfstudio devices trust cam1 --fingerprint SHA256:x")
                              or "")  # fmt: skip
