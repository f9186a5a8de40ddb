"""The jobs view against the real Docker Engine: start a job from the form and read its
log, refuse a `latest` tag with the reason, stop with confirm, a down engine as a
state with its fix, and following that stops when the view is left.

Jobs run in the busybox test image (scripts/docker-test-env.sh builds it).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from textual.widgets import DataTable, Input, Static

from tests.fleet.conftest import Lab
from tests.training.conftest import BUSYBOX
from tests.tui.conftest import NO_DOCKER, Recorder, add_locked_device, table_rows, wait_for
from tfstudio.operations import StageStarted
from tfstudio.studio.training_types import TrainRequest
from tfstudio.tui.app import StudioApp
from tfstudio.tui.messages import JobsRead
from tfstudio.tui.modals.confirm import ConfirmModal
from tfstudio.tui.modals.new_job import NewJobModal
from tfstudio.tui.screens.jobs import JobsScreen
from tfstudio.tui.widgets.joblog import JobLog
from tfstudio.tui.widgets.logpanel import LogPanel

FOREVER = "sh -c 'echo ready; trap \"echo bye; exit 0\" TERM; while :; do sleep 0.1; done'"
"""Prints a line, then runs until stopped; says goodbye on SIGTERM."""
SIZE = (120, 40)


async def _type(pilot: Any, text: str) -> None:
    await pilot.press(*text)


def _jobs(app: StudioApp) -> JobsScreen:
    assert isinstance(app.screen, JobsScreen)
    return app.screen


def _text(widget: Static) -> str:
    return str(widget.render())


async def _open_jobs(pilot: Any) -> JobsScreen:
    await pilot.press("2")
    screen = await wait_for(
        pilot, lambda: isinstance(pilot.app.screen, JobsScreen) and pilot.app.screen
    )
    await wait_for(pilot, lambda: screen.board is not None, timeout=30)
    return screen


async def test_a_job_started_from_the_form_shows_its_log(
    docker_app: StudioApp, recorder: Recorder, workspace
) -> None:
    async with docker_app.run_test(size=SIZE, message_hook=recorder) as pilot:
        screen = await _open_jobs(pilot)
        assert screen.board.reachable and screen.board.jobs == ()
        await pilot.press("n")
        form = await wait_for(
            pilot, lambda: isinstance(docker_app.screen, NewJobModal) and docker_app.screen
        )
        assert form.focused is form.image_field.input  # no default image: start there
        await _type(pilot, BUSYBOX)
        assert "pinned" in _text(form.query_one(".policy", Static))
        await pilot.press("tab")
        await _type(pilot, "sh -c 'for i in 1 2 3; do echo epoch $i loss 0.$i; done'")
        form.query_one("#job-workspace", Input).value = str(workspace)
        await pilot.press("ctrl+r")

        launched = await wait_for(pilot, lambda: recorder.of("Launched"), timeout=60)
        job = launched[0].result.job
        log = screen.query_one(JobLog)
        await wait_for(pilot, lambda: log.job_id == job.job_id and len(log.kept) >= 3, timeout=30)
        assert list(log.kept) == [f"epoch {i} loss 0.{i}" for i in (1, 2, 3)]
        assert [str(line) for line in log.lines] == list(log.kept)
        await wait_for(pilot, lambda: not log.following, timeout=30)
        assert "ended" in str(log.border_title)
        await wait_for(pilot, lambda: table_rows(docker_app, "#job-table")[0][1] == "exit 0")

        # The protocol first: stages, then the start, then the log.
        stages = [
            m.event.stage.value
            for m in recorder.of("Progress")
            if isinstance(m.event, StageStarted)
        ]
        assert stages == ["connect", "resolve", "create", "start", "running"]
        assert recorder.names({"Launched", "LogStarted", "LogLines", "LogEnded"}) == [
            "Launched",
            "LogStarted",
            "LogLines",
            "LogEnded",
        ]
        # Then the picture: the job's row, and its provenance beside it once it ended.
        (row,) = table_rows(docker_app, "#job-table")
        assert row[0] == job.job_id and row[-1] == BUSYBOX and row[5] == "no GPU"
        detail = screen.query_one("#job-detail-text", Static)
        await wait_for(pilot, lambda: "provenance (final)" in _text(detail), timeout=30)
        assert "exit 0" in _text(detail)

        # `/` filters the log; Escape clears the filter.
        await pilot.press("slash")
        await _type(pilot, "epoch 2")
        assert [str(line) for line in log.lines] == ["epoch 2 loss 0.2"]
        await pilot.press("escape")
        assert len(log.lines) == 3 and not screen.query_one("#log-filter", Input).display


async def test_a_latest_tag_is_refused_in_the_form_with_the_reason(
    docker_app: StudioApp, recorder: Recorder
) -> None:
    async with docker_app.run_test(size=SIZE, message_hook=recorder) as pilot:
        await _open_jobs(pilot)
        await pilot.press("n")
        form = await wait_for(
            pilot, lambda: isinstance(docker_app.screen, NewJobModal) and docker_app.screen
        )
        await _type(pilot, "tensorflow/tensorflow:latest")
        policy = _text(form.query_one(".policy", Static))
        assert "refused" in policy and "'latest' moves to whatever was pushed last" in policy
        assert "--allow-latest" not in policy  # the form offers pinned tags only
        await pilot.press("tab")
        await _type(pilot, "python train.py")
        await pilot.press("ctrl+r")
        await pilot.pause(0.3)
        assert docker_app.screen is form  # the form stays open, saying why
        assert "refused" in _text(form.query_one("#job-error", Static))
        assert form.focused is form.image_field.input

        # Untagged is refused too; a pinned tag is taken.
        form.image_field.input.value = "tensorflow/tensorflow"
        await pilot.pause()
        assert "no tag means 'latest'" in _text(form.query_one(".policy", Static))
        form.image_field.input.value = BUSYBOX
        await pilot.pause()
        assert "pinned" in _text(form.query_one(".policy", Static))
        await pilot.press("escape")
        await pilot.pause(0.2)
    assert not recorder.of("Launched")
    assert docker_app.studio.training.jobs(stats=False) == []  # nothing reached the engine


async def test_stop_asks_first_then_the_state_changes(
    docker_app: StudioApp, recorder: Recorder, workspace
) -> None:
    training = docker_app.studio.training
    started = training.train(
        TrainRequest(FOREVER, image=BUSYBOX, workspace=str(workspace), gpus="none")
    )
    job_id = started.job.job_id
    async with docker_app.run_test(size=SIZE, message_hook=recorder) as pilot:
        screen = await _open_jobs(pilot)
        log = screen.query_one(JobLog)
        await wait_for(pilot, lambda: list(log.kept) == ["ready"], timeout=30)
        assert table_rows(docker_app, "#job-table")[0][:2] == [job_id, "running"]

        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(docker_app.screen, ConfirmModal))
        await pilot.press("n")  # declined: nothing happens
        await pilot.pause(0.5)
        assert not recorder.of("JobActed") and training.job(job_id).running

        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(docker_app.screen, ConfirmModal))
        await pilot.press("y")
        (acted,) = await wait_for(pilot, lambda: recorder.of("JobActed"), timeout=60)
        assert acted.outcome.action == "stop" and acted.outcome.job.exit_code == 0
        await wait_for(pilot, lambda: table_rows(docker_app, "#job-table")[0][1] == "exit 0")
        await wait_for(pilot, lambda: not log.following, timeout=30)
        assert list(log.kept) == ["ready", "bye"]
        assert acted.outcome.provenance is not None and acted.outcome.provenance.final

        # Stopping an ended job is refused with a word, not an error.
        await pilot.press("s")
        await pilot.pause(0.3)
        assert isinstance(docker_app.screen, JobsScreen)


async def test_following_stops_when_the_view_is_left(
    docker_app: StudioApp, recorder: Recorder, workspace
) -> None:
    training = docker_app.studio.training
    request = TrainRequest(FOREVER, image=BUSYBOX, workspace=str(workspace), gpus="none")
    training.train(request)
    async with docker_app.run_test(size=SIZE, message_hook=recorder) as pilot:
        screen = await _open_jobs(pilot)
        panel = screen.query_one(LogPanel)
        stream = await wait_for(pilot, lambda: panel.stream, timeout=30)
        await pilot.press("1")  # the dashboard
        await pilot.pause(0.2)
        assert stream.stopped and panel.stream is None and panel.following is None
        await pilot.press("2")  # back: it reads and follows again
        again = await wait_for(pilot, lambda: panel.stream, timeout=30)
        assert again is not stream and not again.stopped
    assert again.stopped  # closing the app stops it too
    assert training.jobs(stats=False)[0].running  # the job itself runs on


async def test_a_down_engine_is_a_state_with_its_fix(app: StudioApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        # The dashboard: the readiness strip and the Jobs pane.
        await wait_for(
            pilot, lambda: "training" in _text(app.screen.query_one("#readiness", Static))
        )
        readiness = _text(app.screen.query_one("#readiness", Static))
        assert f"Docker Engine not reachable (at {NO_DOCKER})" in readiness
        assert "fix: install docker.io and start dockerd" in readiness
        await wait_for(pilot, lambda: table_rows(app, "#jobs"))
        assert table_rows(app, "#jobs")[0][:2] == ["local", "down"]

        screen = await _open_jobs(pilot)
        state = _text(screen.query_one("#engine-state", Static))
        assert f"not reachable at {NO_DOCKER}" in state and "fix:" in state
        assert "start dockerd" in state
        assert screen.query_one("#job-table", DataTable).row_count == 0
        detail = _text(screen.query_one("#job-detail-text", Static))
        assert (
            "No jobs can be read: engine local is down" in detail and "fix: start dockerd" in detail
        )


async def test_gpu_check_shows_its_verdict_and_hint(
    docker_app: StudioApp, recorder: Recorder
) -> None:
    async with docker_app.run_test(size=SIZE, message_hook=recorder) as pilot:
        screen = await _open_jobs(pilot)
        await pilot.press("g")
        await wait_for(pilot, lambda: docker_app.screen is not screen)
        await _type(pilot, BUSYBOX)
        await pilot.press("ctrl+r")
        (checked,) = await wait_for(pilot, lambda: recorder.of("GpuChecked"), timeout=60)
        assert checked.result.verdict.value == "no_tensorflow"
        detail = _text(screen.query_one("#job-detail-text", Static))
        assert "no tensorflow" in detail and "hint:" in detail and checked.result.hint in detail


async def test_an_engine_picked_with_an_encrypted_key_asks_its_passphrase(
    app: StudioApp, recorder: Recorder, lab: Lab, tmp_path: Path
) -> None:
    from tfstudio.training.engines import Engine
    from tfstudio.tui.modals.engine_pick import EnginePickModal
    from tfstudio.tui.modals.passphrase import PassphraseModal

    device = add_locked_device(lab, "lockedbox", tmp_path)  # an encrypted copy of the lab key
    url = f"ssh://{device.user}@127.0.0.1:{device.port}"
    training = app.studio.training
    training.add_engine(Engine("gpubox", url, key=str(device.key)))
    async with app.run_test(size=SIZE, message_hook=recorder) as pilot:
        await _open_jobs(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EnginePickModal), timeout=30)
        await pilot.press("down", "enter")
        modal = await wait_for(
            pilot, lambda: isinstance(app.screen, PassphraseModal) and app.screen, timeout=30
        )
        assert modal.key_path == str(device.key)
        # Typed once the field has the focus, as a person would see the cursor there.
        await wait_for(pilot, lambda: getattr(modal.focused, "id", None) == "passphrase")
        await pilot.press(*"s3cret", "enter")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen)
        await wait_for(
            pilot,
            lambda: (
                screen.board is not None
                and screen.board.engine == "gpubox"
                and screen.board.needs_passphrase is None
            ),
            timeout=30,
        )
        # The key opened; the host's next answer is the engine's state, with its fix.
        state = _text(screen.query_one("#engine-state", Static))
        assert "gpubox" in state and "docker" in state and "fix:" in state
        assert not isinstance(app.screen, PassphraseModal)
        # A read that started before the answer comes back late, still locked: it is
        # stale (the passphrase is known now), so nothing asks again or shows "locked".
        stale = replace(screen.board, reachable=False, needs_passphrase=str(device.key))
        screen.post_message(JobsRead(stale))
        await pilot.pause(0.5)
        assert not isinstance(app.screen, PassphraseModal)
        assert screen.board is not None and screen.board.needs_passphrase is None
