"""`Studio.training`'s operations for a command line, against the real Docker Engine:
a train attached before the start, a blocking follow that loses no line and
ends on a cancel token, and images listed, probed and built with the pull choice.

Jobs run in the busybox test image; each test's containers are removed after
it (tests/training/conftest.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.training.conftest import BUSYBOX
from tfstudio.operations import CancelToken, Event, StageStarted, TargetFinished
from tfstudio.studio import Studio
from tfstudio.studio.training_types import TrainRequest
from tfstudio.training.errors import ImageError

LINES = 3000
"""More lines than a fast job's first second, printed with no pause between them."""


@pytest.fixture
def studio(docker_api: object) -> Iterator[Studio]:
    opened = Studio()
    yield opened
    opened.close()


def test_an_attached_train_follows_every_line_in_order_to_the_end(
    studio: Studio, workspace: Path
) -> None:
    # The job prints and exits at once: only an output opened before the start
    # is sure to hold its first line.
    request = TrainRequest(
        f"sh -c 'echo first; seq 1 {LINES}; exit 3'",
        image=BUSYBOX,
        workspace=str(workspace),
        gpus="none",
    )
    started = studio.training.train(request, attach=True)
    assert started.output is not None
    lines: list[str] = []
    assert studio.training.follow_to_end(started.job, lines.append, output=started.output)
    assert lines == ["first", *(str(i) for i in range(1, LINES + 1))]
    outcome = studio.training.wait(started.job, timeout_s=30)
    assert outcome.job.exit_code == 3 and outcome.provenance is not None


def test_a_cancel_token_ends_the_follow_at_once_and_the_job_goes_on(
    studio: Studio, workspace: Path
) -> None:
    request = TrainRequest(
        "sh -c 'echo ready; while :; do sleep 0.1; done'",
        image=BUSYBOX,
        workspace=str(workspace),
        gpus="none",
    )
    job = studio.training.train(request).job
    cancel = CancelToken()
    seen: list[str] = []
    cancelled_at: list[float] = []

    def on_line(text: str) -> None:
        seen.append(text)
        cancelled_at.append(time.monotonic())
        cancel.cancel()  # as Ctrl-C's handler does, from another frame

    assert not studio.training.follow_to_end(job.job_id, on_line, cancel=cancel)
    assert time.monotonic() - cancelled_at[0] < 2
    assert seen == ["ready"]
    assert studio.training.job(job.job_id).running

    # Not cancelled: a log of a job that ended reads to its end and returns True.
    stopper = threading.Timer(0.5, lambda: studio.training.stop(job.job_id, timeout_s=1))
    stopper.start()
    try:
        assert studio.training.follow_to_end(job, seen.append, tail=0)
    finally:
        stopper.join()
    assert not studio.training.job(job.job_id).running


def test_images_are_listed_probed_and_built_with_the_pull_choice(
    studio: Studio, tmp_path: Path, docker_api
) -> None:
    rows = {f"{i.repository}:{i.tag}": i for i in studio.training.images(probe=True)}
    assert rows[BUSYBOX].tf_version is None  # probed: busybox has no TensorFlow
    assert docker_api.containers(all=True, filters={"label": "tfstudio.kind=image-probe"}) == []

    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM localhost:1/nobody/base:1.0.0\n")
    events: list[Event] = []
    with pytest.raises(ImageError, match="pulling is off"):
        studio.training.build_image(context, "tfstudio-test/nopull:1.0.0", pull=False)
    with pytest.raises(ImageError, match="pull failed"):
        studio.training.build_image(
            context, "tfstudio-test/nopull:1.0.0", pull=True, on_event=events.append
        )
    assert [e.stage.value for e in events if isinstance(e, StageStarted)] == ["resolve", "pull"]
    assert not any(isinstance(e, TargetFinished) for e in events)
