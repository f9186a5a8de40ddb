"""Images on an engine: list them, resolve a reference to an id and digest, pull a missing one.

A job's provenance needs the image's digest. A pulled image has a registry
digest (`repo@sha256:...`, its RepoDigest). An image made locally (`docker
import`, `docker load` of a save, `docker build`) has none; its image ID, the
sha256 of its config (which names every layer by content), stands in, and
`digest_kind` says which of the two was recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from tfstudio.errors import TfStudioError
from tfstudio.operations import SILENT, CancelToken, Reporter, Stage, check_cancelled
from tfstudio.training.client import EngineClient, docker_sdk, translate
from tfstudio.training.errors import ImageError
from tfstudio.training.tagpolicy import ImageRef, parse_ref

TF_VERSION_LABELS = (
    "org.tensorflow.version",
    "com.nvidia.tensorflow.version",
    "tensorflow.version",
    "tfstudio.tensorflow.version",
)
"""Image labels that state the TensorFlow version, first match wins."""
TF_VERSION_ENV = ("TENSORFLOW_VERSION", "NVIDIA_TENSORFLOW_VERSION", "TF_VERSION")
"""Environment variables of an image's config that state it (NVIDIA's NGC images set these)."""

REPO_DIGEST = "repo_digest"
IMAGE_ID = "image_id"


@dataclass(frozen=True)
class ImageInfo:
    """One row of `tfstudio images`: a tag of an image (untagged images: repository `<none>`)."""

    repository: str
    tag: str
    id: str
    digest: str | None
    size_bytes: int
    created: str
    tf_version: str | None
    tf_version_source: str | None

    def to_json(self) -> dict[str, Any]:
        """Returns the fields as a dict."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class ResolvedImage:
    """An image reference resolved on an engine: its id and the digest provenance records."""

    ref: str
    id: str
    digest: str
    digest_kind: str
    """`repo_digest` (from a registry) or `image_id` (a local image without one)."""
    repo_digests: tuple[str, ...]
    pulled: bool
    labels: dict[str, str]
    env: tuple[str, ...]

    @property
    def digest_note(self) -> str:
        """Returns a sentence saying which digest was recorded and why."""
        if self.digest_kind == REPO_DIGEST:
            return "registry digest (RepoDigest)"
        return (
            "image ID: the image has no registry digest (imported, loaded or built "
            "locally), so its config's sha256 stands in"
        )

    def to_json(self) -> dict[str, Any]:
        """Returns {ref, id, digest, digest_kind, digest_note, repo_digests, pulled}."""
        return {
            "ref": self.ref,
            "id": self.id,
            "digest": self.digest,
            "digest_kind": self.digest_kind,
            "digest_note": self.digest_note,
            "repo_digests": list(self.repo_digests),
            "pulled": self.pulled,
        }


def list_images(client: EngineClient) -> list[ImageInfo]:
    """Returns one ImageInfo per tag of every image on the engine, newest first.

    The TensorFlow version comes from a label when the image has one (see
    `tfstudio.training.imageprobe` for the probe). Raises EngineError.
    """
    with client.call("listing images"):
        summaries = client.api.images()
    rows: list[ImageInfo] = []
    for summary in sorted(summaries, key=lambda s: -int(s.get("Created") or 0)):
        labels = summary.get("Labels") or {}
        version, source = tf_version_from(labels, ())
        created = datetime.fromtimestamp(int(summary.get("Created") or 0), timezone.utc)
        digests = summary.get("RepoDigests") or []
        tags = [t for t in summary.get("RepoTags") or [] if t != "<none>:<none>"]
        for full in tags or ["<none>:<none>"]:
            ref = parse_ref(full) if full != "<none>:<none>" else None
            repository = ref.repository if ref else "<none>"
            rows.append(
                ImageInfo(
                    repository=repository,
                    tag=(ref.tag or "") if ref else "<none>",
                    id=str(summary["Id"]),
                    digest=_pick_digest(digests, repository),
                    size_bytes=int(summary.get("Size") or 0),
                    created=created.isoformat(timespec="seconds"),
                    tf_version=version,
                    tf_version_source=source,
                )
            )
    return rows


def tf_version_from(labels: dict[str, str], env: tuple[str, ...]) -> tuple[str | None, str | None]:
    """Returns (TensorFlow version, "label" or "env") from an image's config, else (None, None)."""
    for key in TF_VERSION_LABELS:
        if labels.get(key):
            return labels[key], "label"
    values = dict(e.split("=", 1) for e in env if "=" in e)
    for key in TF_VERSION_ENV:
        if values.get(key):
            return values[key], "env"
    return None, None


def resolve_image(
    client: EngineClient,
    ref: ImageRef,
    *,
    pull: bool = True,
    report: Reporter = SILENT,
    cancel: CancelToken | None = None,
) -> ResolvedImage:
    """Returns the image `ref` names on the engine, pulling it when missing and allowed.

    Raises ImageError when it is missing and cannot be pulled (one line naming
    the image and the ways out), EngineError, CancelledError.
    """
    docker = docker_sdk()
    report.stage(Stage.RESOLVE, f"looking for {ref.text} on {client.engine.name}")
    pulled = False
    try:
        with client.call(f"inspecting image {ref.text}"):
            data = client.api.inspect_image(ref.text)
    except docker.errors.NotFound:
        if ref.image_id:
            raise _missing(
                client, ref, "an image id cannot be pulled (it names an image on one engine)"
            ) from None
        if not pull:
            raise _missing(client, ref, "it is not on the engine and pulling is off") from None
        pull_image(client, ref, report=report, cancel=cancel)
        pulled = True
        try:
            with client.call(f"inspecting image {ref.text}"):
                data = client.api.inspect_image(ref.text)
        except docker.errors.NotFound:
            raise _missing(client, ref, "the pull finished but the image is not there") from None
    return _resolved(ref, data, pulled)


def pull_image(
    client: EngineClient,
    ref: ImageRef,
    *,
    report: Reporter = SILENT,
    cancel: CancelToken | None = None,
) -> None:
    """Pulls `ref` onto the engine, reporting layer progress.

    Raises ImageError naming the image and the ways out when the pull fails
    (no registry, no network, unknown image), CancelledError.
    """
    docker = docker_sdk()
    report.stage(Stage.PULL, f"pulling {ref.text}")
    progress: dict[str, tuple[int, int]] = {}
    try:
        stream = client.api.pull(
            ref.repository, tag=ref.digest or ref.tag or "latest", stream=True, decode=True
        )
        for item in stream:
            check_cancelled(cancel, f"pull of {ref.text}")
            if item.get("error"):
                raise _missing(client, ref, f"pull failed: {_first_line(item['error'])}")
            detail = item.get("progressDetail") or {}
            if item.get("id") and detail.get("total"):
                progress[item["id"]] = (int(detail.get("current", 0)), int(detail["total"]))
                done = sum(c for c, _ in progress.values())
                total = sum(t for _, t in progress.values())
                report.transferred(done, total)
    except docker.errors.APIError as exc:
        reason = str(exc.explanation or exc)
        raise _missing(client, ref, f"pull failed: {_first_line(reason)}") from exc
    except TfStudioError:
        raise
    except Exception as exc:  # noqa: BLE001 - the connection failed mid-pull
        raise translate(exc, client.engine, f"pulling {ref.text}") from exc


def _resolved(ref: ImageRef, data: dict[str, Any], pulled: bool) -> ResolvedImage:
    repo_digests = tuple(data.get("RepoDigests") or ())
    digest = _pick_digest(list(repo_digests), ref.repository)
    config = data.get("Config") or {}
    if digest is not None:
        kind, value = REPO_DIGEST, digest
    else:
        kind, value = IMAGE_ID, str(data["Id"])
    return ResolvedImage(
        ref=ref.text,
        id=str(data["Id"]),
        digest=value,
        digest_kind=kind,
        repo_digests=repo_digests,
        pulled=pulled,
        labels=dict(config.get("Labels") or {}),
        env=tuple(config.get("Env") or ()),
    )


def _pick_digest(digests: list[str], repository: str) -> str | None:
    for item in digests:
        if item.split("@", 1)[0] == repository:
            return item
    return digests[0] if digests else None


def _missing(client: EngineClient, ref: ImageRef, reason: str) -> ImageError:
    return ImageError(
        f"image {ref.text} is not available on engine {client.engine.name}: {reason}",
        hint="put it on the engine host with `docker load -i IMAGE.tar` or `docker import`, "
        'or name a local tag in tfstudio.toml ([training] image = "REPO:TAG")',
    )


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text)[:300]
