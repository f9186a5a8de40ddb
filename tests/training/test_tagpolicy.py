"""The tag policy: pinned references pass, latest/untagged/floating ones are refused with why."""

from __future__ import annotations

import pytest

from tfstudio.errors import UsageError
from tfstudio.training.errors import TagPolicyError
from tfstudio.training.tagpolicy import Pinning, check_ref, override_note, parse_ref

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("ref", "pinning"),
    [
        ("tensorflow/tensorflow:2.21.0-gpu", Pinning.VERSION_TAG),
        ("tensorflow/tensorflow:2.21.0", Pinning.VERSION_TAG),
        ("nvcr.io/nvidia/tensorflow:24.01-tf2-py3", Pinning.VERSION_TAG),
        ("localhost:5000/team/trainer:2.21", Pinning.VERSION_TAG),
        ("trainer:build-20250101", Pinning.VERSION_TAG),
        (f"tensorflow/tensorflow@{DIGEST}", Pinning.DIGEST),
        (f"tensorflow/tensorflow:latest@{DIGEST}", Pinning.DIGEST),
        ("tensorflow/tensorflow:latest", Pinning.LATEST),
        ("tensorflow/tensorflow", Pinning.UNTAGGED),
        ("localhost:5000/trainer", Pinning.UNTAGGED),
        ("tensorflow/tensorflow:latest-gpu", Pinning.FLOATING),
        ("tensorflow/tensorflow:nightly", Pinning.FLOATING),
        ("tensorflow/tensorflow:2.16.0-nightly", Pinning.FLOATING),
        ("tensorflow/tensorflow:gpu", Pinning.FLOATING),
        ("python:3", Pinning.FLOATING),
        ("debian:bookworm", Pinning.FLOATING),
        (DIGEST, Pinning.IMAGE_ID),
        ("sha256:b5b881f7ed5b", Pinning.IMAGE_ID),
    ],
)
def test_pinning_of_references(ref: str, pinning: Pinning) -> None:
    assert parse_ref(ref).pinning is pinning


def test_registry_port_is_not_mistaken_for_a_tag() -> None:
    ref = parse_ref("localhost:5000/trainer")
    assert ref.repository == "localhost:5000/trainer" and ref.tag is None


@pytest.mark.parametrize(
    ("ref", "why"),
    [
        ("tensorflow/tensorflow:latest", "'latest' moves"),
        ("tensorflow/tensorflow", "no tag means 'latest'"),
        ("tensorflow/tensorflow:latest-gpu", "names no version"),
    ],
)
def test_refusal_says_why_and_how_to_pin(ref: str, why: str) -> None:
    with pytest.raises(TagPolicyError) as info:
        check_ref(ref)
    err = info.value
    assert isinstance(err, UsageError) and err.exit_code == 2
    assert ref in err.message and why in err.message
    assert "silent upgrade" in err.message
    assert "--allow-latest" in (err.hint or "") and "digest" in (err.hint or "")


def test_allow_latest_overrides_and_leaves_a_note() -> None:
    ref = check_ref("tensorflow/tensorflow:latest", allow_latest=True)
    note = override_note(ref)
    assert note is not None and "--allow-latest" in note and "latest" in note
    assert override_note(check_ref("tensorflow/tensorflow:2.21.0")) is None


@pytest.mark.parametrize("bad", ["UPPER/case:1.0", "a b:1.0", "repo:", "repo@sha256:xyz", ""])
def test_malformed_references_are_one_line_errors(bad: str) -> None:
    with pytest.raises(TagPolicyError) as info:
        parse_ref(bad)
    assert "\n" not in str(info.value)


def test_an_image_id_is_pinned_and_names_no_repository() -> None:
    # An id is the image's content hash: it cannot move, unlike any tag.
    ref = check_ref(DIGEST)
    assert ref.pinned and ref.repository == "" and ref.tag is None and ref.image_id == DIGEST
    # Shorter than an id Docker accepts: repository "sha256", a tag without a version.
    assert parse_ref("sha256:b5b881").pinning is Pinning.FLOATING
