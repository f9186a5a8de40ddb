"""The jobs view on a swarm manager: the new-job form has a workers field, and a
multi-worker job is one row whose details list each worker and whose log is every
worker's, prefixed `[w0]`.

The local dockerd is a one-node swarm (scripts/docker-test-env.sh); the job's
services and network are removed after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from textual.widgets import Input, Static

from tests.training.conftest import BUSYBOX
from tests.training.test_swarm import remove_this_studios_groups
from tests.tui.conftest import Recorder, table_rows, wait_for
from tfstudio.tui.app import StudioApp
from tfstudio.tui.modals.new_job import NewJobModal
from tfstudio.tui.screens.jobs import JobsScreen
from tfstudio.tui.widgets.joblog import JobLog

SIZE = (120, 40)


@pytest.fixture
def swarm_app(docker_app: StudioApp, docker_api: Any) -> Iterator[StudioApp]:
    if not docker_api.info()["Swarm"].get("ControlAvailable"):
        pytest.fail("the test engine is not a swarm manager: run scripts/docker-test-env.sh")
    yield docker_app
    remove_this_studios_groups(docker_api)


async def test_a_two_worker_job_from_the_form(
    swarm_app: StudioApp, recorder: Recorder, workspace
) -> None:
    async with swarm_app.run_test(size=SIZE, message_hook=recorder) as pilot:
        await pilot.press("2")
        screen = await wait_for(
            pilot, lambda: isinstance(pilot.app.screen, JobsScreen) and pilot.app.screen
        )
        # The engine's check says it is a swarm manager: the form then offers workers.
        await wait_for(pilot, lambda: screen.board is not None and screen.report is not None)
        await pilot.press("n")
        form = await wait_for(
            pilot, lambda: isinstance(swarm_app.screen, NewJobModal) and swarm_app.screen
        )
        assert form.swarm
        form.image_field.input.value = BUSYBOX
        form.query_one("#job-command", Input).value = "sh -c 'echo hello from $TF_CONFIG'"
        form.query_one("#job-workspace", Input).value = str(workspace)
        form.query_one("#job-workers", Input).value = "x"
        await pilot.press("ctrl+r")
        error = form.query_one("#job-error", Static)
        assert "workers 'x' is not a number" in str(error.render())
        form.query_one("#job-workers", Input).value = "2"
        await pilot.press("ctrl+r")

        launched = await wait_for(pilot, lambda: recorder.of("Launched"), timeout=60)
        job = launched[0].result.job
        assert job.is_group and len(job.workers) == 2
        log = screen.query_one(JobLog)
        await wait_for(pilot, lambda: log.job_id == job.job_id and len(log.kept) >= 2, timeout=60)
        assert sorted(line.split(" ")[0] for line in log.kept) == ["[w0]", "[w1]"]
        assert all('"index":' in line for line in log.kept)
        await wait_for(pilot, lambda: table_rows(swarm_app, "#job-table")[0][1] == "exit 0")
        detail = screen.query_one("#job-detail-text", Static)
        await wait_for(pilot, lambda: "provenance (final)" in str(detail.render()), timeout=30)
        text = str(detail.render())
        assert "w0" in text and "w1" in text and "exit 0" in text
