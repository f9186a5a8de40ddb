"""Images: listing with TensorFlow versions, a failing pull, and builds under the tag policy."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.training.conftest import BUSYBOX, TF_IMAGE, tfstudio
from tfstudio.cli import main
from tfstudio.training.build import base_images
from tfstudio.training.errors import TagPolicyError

UNPULLABLE = "localhost:1/nobody/trainer:1.0.0"
"""A pinned reference on a registry port nothing listens on: the pull fails at once, anywhere."""


def test_images_list_with_tensorflow_versions(
    docker_api, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["images", "--json"]) == 0
    rows = {f"{r['repository']}:{r['tag']}": r for r in json.loads(capsys.readouterr().out)}
    tf_row = rows[TF_IMAGE]
    assert tf_row["tf_version"] == "2.21.0" and tf_row["tf_version_source"] == "label"
    assert tf_row["id"] == docker_api.inspect_image(TF_IMAGE)["Id"]
    assert tf_row["digest"] is None and tf_row["size_bytes"] > 100 << 20
    assert rows[BUSYBOX]["tf_version"] is None
    assert main(["images"]) == 0
    table = capsys.readouterr().out
    assert "tensorflow" in table.splitlines()[0] and "2.21.0" in table


def test_probe_finds_no_tensorflow_in_busybox_and_caches_it(
    docker_api, studio_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["images", "--probe", "--json"]) == 0
    rows = {f"{r['repository']}:{r['tag']}": r for r in json.loads(capsys.readouterr().out)}
    assert rows[BUSYBOX]["tf_version"] is None
    cache = json.loads((studio_home / "image-probes.json").read_text())
    assert cache[docker_api.inspect_image(BUSYBOX)["Id"]] == "none"
    assert docker_api.containers(all=True, filters={"label": "tfstudio.kind=image-probe"}) == []


def test_a_failing_pull_is_one_line_with_the_way_out(docker_api, workspace: Path) -> None:
    proc = tfstudio("train", "--image", UNPULLABLE, "--workspace", str(workspace), "--", "true")
    assert proc.returncode == 1
    progress, line = proc.stderr.strip().splitlines()
    assert progress == f"pulling {UNPULLABLE}" and line.startswith("tfstudio: error: ")
    assert UNPULLABLE in line and "pull failed" in line
    assert "docker load" in line and "docker import" in line and "[training] image" in line
    off = tfstudio(
        "train", "--no-pull", "--image", UNPULLABLE, "--workspace", str(workspace), "--", "true"
    )
    assert "pulling is off" in off.stderr and off.returncode == 1


def test_latest_and_untagged_are_refused_before_the_engine_is_asked(workspace: Path) -> None:
    for ref in ("tfstudio-test/busybox:latest", "tfstudio-test/busybox"):
        proc = tfstudio(
            "train",
            "--image",
            ref,
            "--workspace",
            str(workspace),
            "--",
            "true",
            env={"DOCKER_HOST": "unix:///nonexistent.sock"},
        )
        assert proc.returncode == 2
        [line] = proc.stderr.strip().splitlines()
        assert "refused for training" in line and "--allow-latest" in line


def test_an_image_id_runs_and_a_missing_one_is_not_pulled(docker_api, workspace: Path) -> None:
    image_id = docker_api.inspect_image(BUSYBOX)["Id"]
    for given in (image_id, image_id[:19]):
        proc = tfstudio(
            "train", "--image", given, "--workspace", str(workspace), "--json", "--", "echo", "ok"
        )
        assert proc.returncode == 0, proc.stderr
        record = json.loads(proc.stdout)
        assert record["image"]["tag_policy"] == "image_id" and record["image"]["ref"] == given
    missing = "sha256:" + "0" * 64
    proc = tfstudio("train", "--image", missing, "--workspace", str(workspace), "--", "true")
    [line] = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and "pulling" not in proc.stderr
    assert line.startswith(f"tfstudio: error: image {missing} is not available on engine local")
    assert "an image id cannot be pulled" in line


def test_a_missing_mount_source_is_named_not_the_workspace(
    docker_api, workspace: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-data"
    proc = tfstudio(
        "train", "--image", BUSYBOX, "--gpus", "none", "--workspace", str(workspace),
        "--mount", f"{missing}:/data:ro", "--", "true",
    )  # fmt: skip
    [line] = proc.stderr.strip().splitlines()
    assert proc.returncode == 1, proc.stderr
    assert line.startswith(f"tfstudio: error: --mount source {missing} does not exist on ")
    assert "fix the --mount source" in line and str(workspace) not in line


def test_allow_latest_runs_and_is_recorded(docker_api, workspace: Path) -> None:
    docker_api.tag(BUSYBOX, "tfstudio-test/busybox", "latest")
    try:
        proc = tfstudio(
            "train",
            "--allow-latest",
            "--image",
            "tfstudio-test/busybox:latest",
            "--workspace",
            str(workspace),
            "--json",
            "--",
            "echo",
            "ok",
        )
        assert proc.returncode == 0, proc.stderr
        record = json.loads(proc.stdout)
        assert record["image"]["tag_policy"] == "latest"
        assert "--allow-latest" in record["image"]["override"]
        labels = docker_api.inspect_container(record["container_id"])["Config"]["Labels"]
        assert "--allow-latest" in labels["tfstudio.tag-policy.override"]
    finally:
        docker_api.remove_image("tfstudio-test/busybox:latest")


def test_dockerfile_bases_are_read_with_stages_and_args() -> None:
    text = (
        "ARG BASE=tfstudio-test/busybox:1.35.0\n"
        "FROM ${BASE} AS build\nRUN echo hi\n"
        "FROM --platform=linux/amd64 build\n"
        "FROM scratch\n"
        "FROM tensorflow/tensorflow:2.21.0 \\\n  AS final\n"
    )
    assert base_images(text) == ["tfstudio-test/busybox:1.35.0", "tensorflow/tensorflow:2.21.0"]
    assert base_images(text, {"BASE": "other:2.0"})[0] == "other:2.0"


def test_build_records_the_base_digest(
    docker_api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {BUSYBOX}\nRUN echo built > /built.txt\n")
    tag = f"tfstudio-test/built:1.0.{os.getpid()}"
    try:
        assert main(["images", "build", str(context), "--tag", tag, "--json"]) == 0
        out = capsys.readouterr()
        result = json.loads(out.out)
        base_id = docker_api.inspect_image(BUSYBOX)["Id"]
        assert result["bases"] == [
            {"ref": BUSYBOX, "id": base_id, "digest": base_id, "digest_kind": "image_id"}
        ]
        labels = docker_api.inspect_image(tag)["Config"]["Labels"]
        assert (
            labels["tfstudio.base.digest"] == base_id and labels["tfstudio.base.image"] == BUSYBOX
        )
        assert result["image_id"] == docker_api.inspect_image(tag)["Id"]
        assert main(["images", "build", str(context), "--tag", tag]) == 0
        shown = capsys.readouterr()
        assert f"Step 1/5 : FROM {BUSYBOX}" in shown.err and f"built {tag}" in shown.out
    finally:
        docker_api.remove_image(tag, force=True)


def test_build_refuses_floating_tags_and_bases(tmp_path: Path, docker_api) -> None:
    from tfstudio.training.build import build_image
    from tfstudio.training.client import connect
    from tfstudio.training.engines import local_engine

    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM tfstudio-test/busybox:latest\n")
    with connect(local_engine()) as client:
        with pytest.raises(TagPolicyError, match="new image's tag"):
            build_image(client, context, "mine:latest")
        with pytest.raises(TagPolicyError, match="base image"):
            build_image(client, context, "mine:1.0.0")
    proc = tfstudio("images", "build", str(context), "--tag", "mine")
    assert proc.returncode == 2 and "refused" in proc.stderr and "Traceback" not in proc.stderr
