"""The tag policy: training runs only on images whose reference pins a version.

An image tag is the environment's contract (which TensorFlow, CUDA, Python).
A reference that can move under the same name (`latest`, no tag at all, `nightly`,
`gpu`, a bare major `2`) lets a silent upgrade change a production model's
training, so it is refused unless the caller overrides it (`--allow-latest`),
and the override is recorded in the job's provenance.

Pinned means: an image id (`sha256:` and at least 12 hex digits, which names
the image's content on one engine), a digest (`@sha256:...`), or a tag that
carries a version with at least major.minor (`2.21.0-gpu`, `24.01-tf2-py3`) or
a date stamp (`20250101`), and no floating word (`latest-gpu`, `2.16.0-nightly`
float).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from tfstudio.training.errors import TagPolicyError

FLOATING_WORDS = frozenset(
    {"latest", "nightly", "edge", "stable", "main", "master", "rolling", "current", "dev"}
)
"""Words in a tag that mean "whatever was pushed last", even next to a version."""

_VERSION = re.compile(r"(?<![0-9])[0-9]+\.[0-9]+")
_DATE = re.compile(r"(?<![0-9])20[0-9]{6}(?![0-9])")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_IMAGE_ID = re.compile(r"^sha256:[0-9a-f]{12,64}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class Pinning(str, Enum):
    """How firmly a reference names one image."""

    IMAGE_ID = "image_id"
    DIGEST = "digest"
    VERSION_TAG = "version_tag"
    LATEST = "latest"
    UNTAGGED = "untagged"
    FLOATING = "floating"


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference: `repository[:tag][@digest]` (registry part kept in
    repository), or an image id (`sha256:HEX`: no repository, no tag)."""

    text: str
    repository: str
    tag: str | None
    digest: str | None
    image_id: str | None = None

    @property
    def pinning(self) -> Pinning:
        """Returns how this reference pins its image."""
        if self.image_id:
            return Pinning.IMAGE_ID
        if self.digest:
            return Pinning.DIGEST
        if self.tag is None:
            return Pinning.UNTAGGED
        if self.tag == "latest":
            return Pinning.LATEST
        words = set(re.split(r"[-_.]", self.tag.lower()))
        has_version = bool(_VERSION.search(self.tag) or _DATE.search(self.tag))
        if has_version and not words & FLOATING_WORDS:
            return Pinning.VERSION_TAG
        return Pinning.FLOATING

    @property
    def pinned(self) -> bool:
        """True for an image id, a digest or a version tag."""
        return self.pinning in (Pinning.IMAGE_ID, Pinning.DIGEST, Pinning.VERSION_TAG)


def parse_ref(text: str) -> ImageRef:
    """Returns the parsed reference. Raises TagPolicyError for one Docker would reject."""
    ref = text.strip()
    if _IMAGE_ID.match(ref):
        return ImageRef(text=ref, repository="", tag=None, digest=None, image_id=ref)
    digest = None
    if "@" in ref:
        ref, _, digest = ref.partition("@")
        if not _DIGEST.match(digest):
            raise TagPolicyError(f"image reference {text!r} has an invalid digest {digest!r}")
    repository, tag = ref, None
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        repository, tag = ref[:colon], ref[colon + 1 :]
        if not _TAG.match(tag):
            raise TagPolicyError(f"image reference {text!r} has an invalid tag {tag!r}")
    # The first component may be a registry host with a port and upper case.
    first, _, rest = repository.partition("/")
    path = rest if rest and ("." in first or ":" in first or first == "localhost") else repository
    if not _NAME.match(path):
        raise TagPolicyError(
            f"{text!r} is not a valid image reference",
            hint="write it as repository:tag, e.g. tensorflow/tensorflow:2.21.0-gpu",
        )
    return ImageRef(text=text.strip(), repository=repository, tag=tag, digest=digest)


_WHY = {
    Pinning.LATEST: "'latest' moves to whatever was pushed last",
    Pinning.UNTAGGED: "no tag means 'latest', which moves to whatever was pushed last",
    Pinning.FLOATING: "the tag names no version, so it can move to another image",
}


def check_ref(text: str, *, allow_latest: bool = False, what: str = "training") -> ImageRef:
    """Returns the parsed reference if the policy allows it for `what`.

    Raises TagPolicyError (with why and how to pin) for a latest, untagged or
    floating reference, unless `allow_latest` is set.
    """
    ref = parse_ref(text)
    if ref.pinned or allow_latest:
        return ref
    raise TagPolicyError(
        f"image {ref.text} is refused for {what}: {_WHY[ref.pinning]}; "
        "a silent upgrade of TensorFlow, CUDA or Python can change or break a production model",
        hint="pin a version tag (e.g. tensorflow/tensorflow:2.21.0-gpu) or a digest "
        "(repo@sha256:...); --allow-latest overrides and is recorded in provenance",
    )


def override_note(ref: ImageRef) -> str | None:
    """Returns the provenance note for a reference that needed --allow-latest, else None."""
    if ref.pinned:
        return None
    return f"--allow-latest: {ref.pinning.value} reference {ref.text} ({_WHY[ref.pinning]})"
