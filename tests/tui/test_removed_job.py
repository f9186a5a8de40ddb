"""The jobs view lists a job whose container was removed (issue 19): state `removed`, its
provenance on the right, nothing to follow, and `x` says it is gone instead of asking."""

from __future__ import annotations

from pathlib import Path

from tests.training.conftest import BUSYBOX
from tests.tui.conftest import table_rows, wait_for
from tfstudio.studio.training_types import TrainRequest
from tfstudio.tui.app import StudioApp

EXPORT = "sh -c 'mkdir -p exports/m && echo pb > exports/m/saved_model.pb'"


async def test_the_jobs_view_lists_a_removed_job_with_its_record(
    docker_app: StudioApp, workspace: Path
) -> None:
    training = docker_app.studio.training
    job = training.train(TrainRequest(EXPORT, image=BUSYBOX, workspace=str(workspace))).job
    training.wait(job, timeout_s=60)
    training.remove(job)
    async with docker_app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: docker_app.screen.query("#job-table"))
        rows = await wait_for(pilot, lambda: table_rows(docker_app, "#job-table"), timeout=30)
        assert rows[0][0] == job.job_id and rows[0][1] == "removed"
        detail = docker_app.screen.query_one("#job-detail-text")
        await wait_for(pilot, lambda: "provenance" in str(detail.render()), timeout=30)
        text = str(detail.render())
        assert "exports/m" in text and "(final)" in text and "removed" in text
        await pilot.press("x")  # nothing to remove: it says so, asks nothing
        await pilot.pause(0.2)
        assert any("already removed" in n.message for n in docker_app._notifications)
        assert type(docker_app.screen).__name__ == "JobsScreen"
