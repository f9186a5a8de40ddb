"""Parsing job requests (GPUs, limits, env, ports, mounts) and the [training] defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfstudio.errors import ConfigError, UsageError
from tfstudio.training.engines import Engine, local_engine
from tfstudio.training.errors import TagPolicyError, WorkspaceError
from tfstudio.training.jobspec import build_spec
from tfstudio.training.limits import (
    parse_env,
    parse_gpus,
    parse_mount,
    parse_publish,
    parse_size,
)
from tfstudio.training.settings import training_settings


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512m", 512 << 20),
        ("4g", 4 << 30),
        ("2GiB", 2 << 30),
        ("1.5g", int(1.5 * (1 << 30))),
        ("64k", 64 << 10),
        ("1024", 1024),
        ("10b", 10),
    ],
)
def test_sizes_are_binary_like_docker(text: str, size: int) -> None:
    assert parse_size(text, "--memory") == size


@pytest.mark.parametrize("bad", ["lots", "-1g", "0", "4x", "4 gigs"])
def test_bad_sizes_name_the_option(bad: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_size(bad, "--memory")
    assert "--memory" in info.value.message


def test_gpu_requests() -> None:
    assert not parse_gpus("none").wanted
    assert parse_gpus("all").count == -1 and parse_gpus("all").describe() == "all"
    assert parse_gpus("2").count == 2
    assert parse_gpus("0,1").device_ids == ("0", "1")
    assert parse_gpus("device=3").device_ids == ("3",)
    request = parse_gpus("all").device_requests()[0]
    assert request["Count"] == -1 and request["Capabilities"] == [["gpu"]]
    assert parse_gpus("none").device_requests() == []
    for bad in ("0", "many", "-1"):
        with pytest.raises(UsageError):
            parse_gpus(bad)


def test_env_ports_and_mounts() -> None:
    assert parse_env(["A=1", "B", "C=x=y"], {"B": "from-shell"}) == {
        "A": "1",
        "B": "from-shell",
        "C": "x=y",
    }
    with pytest.raises(UsageError):
        parse_env(["NOT_SET_HERE"], {})
    with pytest.raises(UsageError):
        parse_env(["1BAD=x"], {})
    # Without an address a port faces only this machine.
    assert parse_publish(["6006"]) == {"6006/tcp": ("127.0.0.1", 6006)}
    assert parse_publish(["16006:6006"]) == {"6006/tcp": ("127.0.0.1", 16006)}
    assert parse_publish(["0.0.0.0:8888:8889/udp"]) == {"8889/udp": ("0.0.0.0", 8888)}
    with pytest.raises(UsageError):
        parse_publish(["99999"])
    mount = parse_mount("/data/imagenet:/data:ro")
    assert (mount.source, mount.target, mount.read_only) == ("/data/imagenet", "/data", True)
    for bad in ("relative:/data", "/a:/workspace/x", "/a:/b:rx"):
        with pytest.raises(UsageError):
            parse_mount(bad)


@pytest.mark.parametrize("text", ["/data/a\nb:/data", "/data:/da\tta", "/data\x00:/data"])
def test_a_mount_with_a_control_character_blames_the_mount(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_mount(text)
    message = info.value.message
    assert message.startswith(f"--mount {text!r}: ") and "control character" in message
    assert "workspace" not in message and "\n" not in message


def test_training_defaults_come_from_the_config(studio_home: Path, tmp_path: Path) -> None:
    (studio_home / "tfstudio.toml").write_text(
        '[training]\nimage = "trainer:2.21.0"\ncpus = 2\nmemory = "1g"\nshm_size = "256m"\n'
        'gpus = "all"\nmounts = ["/srv/data:/data:ro"]\nstop_timeout = 3\n'
    )
    settings = training_settings()
    spec = build_spec(local_engine(), settings, ["python", "train.py"], workspace=str(tmp_path))
    assert spec.image.text == "trainer:2.21.0"
    assert spec.limits.cpus == 2 and spec.limits.memory == 1 << 30
    assert spec.limits.shm_size == 256 << 20 and spec.gpus.count == -1
    assert spec.mounts[0].target == "/data" and spec.stop_timeout_s == 3
    # The command line wins over the config.
    spec = build_spec(
        local_engine(),
        settings,
        ["true"],
        workspace=str(tmp_path),
        cpus="0.5",
        gpus="none",
        image="other:1.0.0",
    )
    assert spec.limits.cpus == 0.5 and not spec.gpus.wanted and spec.image.text == "other:1.0.0"


def test_bad_config_value_names_the_key(studio_home: Path) -> None:
    (studio_home / "tfstudio.toml").write_text('[training]\nmemory = "lots"\n')
    with pytest.raises(ConfigError) as info:
        training_settings()
    assert "[training] memory" in info.value.message


def test_spec_checks_policy_and_workspace_before_any_engine(tmp_path: Path) -> None:
    settings = training_settings()
    with pytest.raises(TagPolicyError):
        build_spec(local_engine(), settings, ["true"], image="busybox", workspace=str(tmp_path))
    with pytest.raises(UsageError, match="no image"):
        build_spec(local_engine(), settings, ["true"], workspace=str(tmp_path))
    with pytest.raises(UsageError, match="no command"):
        build_spec(local_engine(), settings, [], image="a:1.0", workspace=str(tmp_path))
    with pytest.raises(WorkspaceError, match="does not exist"):
        build_spec(
            local_engine(), settings, ["true"], image="a:1.0", workspace=str(tmp_path / "missing")
        )
    remote = Engine(name="gpu1", url="ssh://me@gpu-box")
    with pytest.raises(WorkspaceError) as info:
        build_spec(remote, settings, ["true"], image="a:1.0")
    assert "gpu-box" in info.value.message and "--workspace" in info.value.message
    with pytest.raises(WorkspaceError, match="absolute path on gpu-box"):
        build_spec(remote, settings, ["true"], image="a:1.0", workspace="relative/dir")
    # A remote path is that host's path: it need not exist here.
    spec = build_spec(remote, settings, ["true"], image="a:1.0", workspace="/srv/nowhere-here")
    assert spec.workspace == "/srv/nowhere-here" and spec.workspace_remote
