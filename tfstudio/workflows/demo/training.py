"""The demo's first two stages: train the digits CNN, then export it as a SavedModel.

Two ways, one network (`train_digits.py` is both imported here and run in the
container): in a container of a pinned TensorFlow image on the local Docker
Engine, when the engine answers and the image is there, through the same job
path as `tfstudio train` (so the job's provenance records the image digest and
the SavedModel's hash); else in this process. `choose` says which, and why.

Exports go to `workspace/exports/digits/<version>/`, the layout training jobs
use, one new version per run.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfstudio.errors import TfStudioError
from tfstudio.operations import CancelToken, EventCallback
from tfstudio.workflows.demo import train_digits
from tfstudio.workflows.demo.digits import DigitsData, DigitsFiles
from tfstudio.workflows.demo.report import Training

if TYPE_CHECKING:
    from tfstudio.studio import Studio

DEFAULT_IMAGE = "tfstudio-local/tensorflow:2.21.0-cpu"
"""The image `scripts/docker-test-env.sh` builds; `[training] image` overrides it."""
JOB_TIMEOUT_S = 600.0
"""The longest a demo training job may run (it takes seconds)."""
SCRIPT = "train_digits.py"
EXPORT_NAME = "digits"


class TrainIn(str, Enum):
    """Where the demo trains: `auto` picks the container when it can."""

    AUTO = "auto"
    CONTAINER = "container"
    PROCESS = "process"


class DemoTrainingError(TfStudioError):
    """The demo's training job failed (the job ran, and exited badly)."""


@dataclass(frozen=True)
class Choice:
    """Where training will run and why (`image` for a container)."""

    where: TrainIn
    why: str
    image: str | None = None


def demo_image(studio: Studio, image: str | None) -> str:
    """Returns the image to train in: `image`, else `[training] image`, else DEFAULT_IMAGE."""
    if image:
        return image
    try:
        return studio.training.settings().image or DEFAULT_IMAGE
    except TfStudioError:
        return DEFAULT_IMAGE


def choose(studio: Studio, train_in: TrainIn, image: str | None) -> Choice:
    """Returns where to train. `auto` asks the local engine for the image (2 s at most).

    Raises the engine's or image's TfStudioError only for `container`.
    """
    if train_in is TrainIn.PROCESS:
        return Choice(TrainIn.PROCESS, "asked for with --train-in process")
    chosen = demo_image(studio, image)
    try:
        found = _image_on_local_engine(chosen)
    except TfStudioError as exc:
        if train_in is TrainIn.CONTAINER:
            raise
        return Choice(TrainIn.PROCESS, f"no container: {exc.message}")
    return Choice(TrainIn.CONTAINER, f"image {chosen} on the local engine ({found[:19]})", chosen)


def _image_on_local_engine(image: str) -> str:
    """Returns the image's id on the local engine. Raises EngineError/ImageError."""
    from tfstudio.training.client import connect, docker_sdk
    from tfstudio.training.engines import local_engine
    from tfstudio.training.errors import ImageError

    docker = docker_sdk()
    with connect(local_engine(), connect_timeout=2.0) as client:
        try:
            with client.call(f"inspecting image {image}"):
                return str(client.api.inspect_image(image)["Id"])
        except docker.errors.NotFound:
            raise ImageError(
                f"image {image} is not on the local engine",
                hint="build it: scripts/docker-test-env.sh (or pass --image REPO:TAG)",
            ) from None


def next_export(workspace: Path) -> Path:
    """Returns `workspace/exports/digits/<n>` for the first unused version n (1, 2, ...)."""
    root = workspace / "exports" / EXPORT_NAME
    taken = [int(p.name) for p in root.glob("*") if p.name.isdigit()] if root.is_dir() else []
    return root / str(max(taken, default=0) + 1)


class InProcess:
    """Trains here (TensorFlow loads into this process), then exports."""

    def __init__(self, why: str, data: DigitsData, export_dir: Path, epochs: int) -> None:
        self.why = why
        self.data = data
        self.export_dir = export_dir
        self.epochs = epochs
        self.model: Any = None
        self.accuracy: float | None = None

    def train(self, emit: EventCallback, cancel: CancelToken) -> str:
        """Trains the CNN; returns a one-line note. Raises MissingExtraError."""
        import numpy as np

        from tfstudio.extras import tensorflow

        tensorflow()
        self.model = train_digits.train(
            self.data.x_train, self.data.y_train, epochs=self.epochs, callbacks=[_stopper(cancel)]
        )
        cancel.raise_if_cancelled("the demo's training")
        probs = np.asarray(self.model(self.data.x_test, training=False))
        self.accuracy = float(np.mean(probs.argmax(axis=1) == self.data.y_test))
        return f"{self.epochs} epochs in this process, test accuracy {100 * self.accuracy:.1f}%"

    def export(self, cancel: CancelToken) -> Training:
        """Exports the SavedModel (atomically: beside, then renamed). Raises OutputError."""
        from tfstudio.errors import OutputError
        from tfstudio.models.source import probe_source

        partial = self.export_dir.with_name(f".{self.export_dir.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            partial.parent.mkdir(parents=True, exist_ok=True)
            self.model.export(str(partial), verbose=False)
            partial.rename(self.export_dir)
        except OSError as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise OutputError(f"cannot export the SavedModel to {self.export_dir}: {exc}") from exc
        return Training(
            "process",
            self.why,
            self.export_dir,
            probe_source(self.export_dir).sha256,
            self.epochs,
            self.accuracy,
        )


class InContainer:
    """Trains in a job of the pinned image on the local engine; the job exports."""

    def __init__(
        self,
        studio: Studio,
        choice: Choice,
        files: DigitsFiles,
        workspace: Path,
        export_dir: Path,
        epochs: int,
    ) -> None:
        self.studio = studio
        self.choice = choice
        self.files = files
        self.workspace = workspace
        self.export_dir = export_dir
        self.epochs = epochs
        self.outcome: Any = None
        self.accuracy: float | None = None

    def train(self, emit: EventCallback, cancel: CancelToken) -> str:
        """Runs the job to its end. Raises DemoTrainingError (bad exit), the engine's errors,
        CancelledError (the job is killed first)."""
        from tfstudio.studio.training_types import TrainRequest

        (self.workspace / "data").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(train_digits.__file__), self.workspace / SCRIPT)
        shutil.copyfile(self.files.train, self.workspace / "data" / self.files.train.name)
        export = self.export_dir.relative_to(self.workspace).as_posix()
        request = TrainRequest(
            command=["python", SCRIPT, f"data/{self.files.train.name}", export, str(self.epochs)],
            image=self.choice.image,
            engine="local",
            gpus="none",
            workspace=str(self.workspace),
            pull=False,
        )
        training = self.studio.training
        job = training.train(request, on_event=emit, cancel=cancel).job
        try:
            self.outcome = training.wait(
                job, engine="local", timeout_s=JOB_TIMEOUT_S, cancel=cancel
            )
        except BaseException:
            _quietly(lambda: training.remove(job, engine="local", force=True))
            raise
        log = training.logs(job, engine="local", tail=20)
        ended = self.outcome.job
        if ended.exit_code != 0:
            _quietly(lambda: training.remove(ended, engine="local"))
            last = next((ln for ln in reversed(log) if ln.strip()), "no output")
            raise DemoTrainingError(
                f"the demo's training job {ended.job_id} ended with exit code "
                f"{ended.exit_code}: {last.strip()}",
                hint=f"its provenance: tfstudio jobs show {ended.job_id}",
            )
        for line in log:
            if line.startswith("test accuracy "):
                self.accuracy = float(line.split()[-1])
        return f"{self.epochs} epochs in job {ended.job_id} ({self.choice.image})"

    def export(self, cancel: CancelToken) -> Training:
        """Returns the job's export with its provenance (the container is then removed,
        its record kept). Raises DemoTrainingError when the job exported nothing."""
        record = self.outcome.provenance
        export = self.export_dir.relative_to(self.workspace).as_posix()
        found = next((e for e in record.exports if e.get("path") == export), None)
        if found is None or not (self.export_dir / "saved_model.pb").is_file():
            raise DemoTrainingError(
                f"the demo's training job {record.job_id} exported no SavedModel at {export}"
            )
        _quietly(lambda: self.studio.training.remove(self.outcome.job, engine="local"))
        return Training(
            "container",
            self.choice.why,
            self.export_dir,
            str(found.get("sha256") or ""),
            self.epochs,
            self.accuracy,
            image=str(record.image.get("ref")),
            image_digest=record.image.get("digest"),
            job=record.job_id,
            record=record.path,
        )


def _stopper(cancel: CancelToken) -> Any:
    """A Keras callback that ends the training at the next step once `cancel` is set."""
    import keras

    class Stop(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if cancel.is_set():
                self.model.stop_training = True

    return Stop()


def _quietly(action: Any) -> None:
    # Removing the finished container is tidying up: its provenance is already
    # stored, and a failure here must not hide the demo's own outcome.
    try:
        action()
    except TfStudioError:
        pass
