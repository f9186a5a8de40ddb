"""The images part of `Studio.training`: the tag policy, listing (with the version probe)
and building an image, for the CLI and the UI alike.

`TrainingImages` is a base class of `tfstudio.studio.training.Training`, which
supplies the engine connections and the `[training]` settings. Nothing here
imports docker at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tfstudio.operations import CancelToken, EventCallback, Reporter, Throttle
from tfstudio.studio.engines import TrainingEngines
from tfstudio.training.tagpolicy import ImageRef, check_ref

if TYPE_CHECKING:
    from tfstudio.training.build import BuildResult
    from tfstudio.training.images import ImageInfo


class TrainingImages(TrainingEngines):
    """Images on an engine: check a reference, list, probe, build."""

    def check_image(self, ref: str, *, allow_latest: bool = False) -> ImageRef:
        """Returns the parsed reference if the tag policy allows it (no engine is asked).

        Raises TagPolicyError with why (`latest`, untagged, floating) and how to pin.
        """
        return check_ref(ref, allow_latest=allow_latest)

    def images(self, engine: str | None = None, *, probe: bool = False) -> list[ImageInfo]:
        """Returns the engine's images, one row per tag, newest first.

        With `probe`, an image without a TensorFlow label is asked for its
        version (a short container; the answer is cached by image id, so a
        second listing starts none). Raises EngineError.
        """
        from tfstudio.training.images import list_images

        with self._client(engine) as client:
            found = list_images(client)
            if probe:
                from tfstudio.training.imageprobe import probe_versions

                found = probe_versions(client, found)
        return found

    def build_image(
        self,
        context: str | Path,
        tag: str,
        *,
        engine: str | None = None,
        dockerfile: str = "Dockerfile",
        build_args: dict[str, str] | None = None,
        allow_latest: bool = False,
        pull: bool | None = None,
        on_event: EventCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> BuildResult:
        """Builds `context/dockerfile` as `tag` under the tag policy; records its bases.

        `pull` (default `[training] pull`): whether a missing base may be
        pulled. Events: PULL (with ticks) for a missing base, one BUILD per
        line of the engine's build output, then TargetFinished.
        Raises TagPolicyError, UsageError, ImageError, EngineError, CancelledError.
        """
        from tfstudio.training.build import build_image

        report = Reporter("build", tag, Throttle(on_event))
        with self._client(engine) as client:
            result = build_image(
                client,
                Path(context),
                tag,
                dockerfile=dockerfile,
                build_args=build_args,
                allow_latest=allow_latest,
                pull=self.settings().pull if pull is None else pull,
                report=report,
                cancel=cancel,
            )
        report.finished(True, f"built {result.image_id[:19]}", result.to_json())
        return result
