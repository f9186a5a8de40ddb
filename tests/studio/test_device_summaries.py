"""What the Devices and dashboard panes say of a device (issue 19): `last seen` is the last
time the device answered, never a failed attempt; a device that answered a deploy or a
bench after its last check reads online, `local` included."""

from __future__ import annotations

import shutil
from pathlib import Path

from tfstudio.studio import Studio
from tfstudio.studio.types import BenchSettings, Device

FAST = BenchSettings(runs=5, warmup=1, min_seconds=0, warmup_min_seconds=0)


def test_a_failed_check_is_not_a_sighting() -> None:
    studio = Studio()
    studio.add_device(Device(name="gone", host="127.0.0.1", port=1))  # nothing listens
    (result,) = studio.check(studio.resolve("gone"))
    assert not result.reachable
    (summary,) = [d for d in studio.device_summaries() if d.name == "gone"]
    assert summary.reachable is False and summary.last_seen is None


def test_local_reads_online_after_a_deploy_and_a_bench(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    studio = Studio()
    (local,) = [d for d in studio.device_summaries() if d.name == "local"]
    assert local.reachable is None and local.last_seen is None  # never asked yet
    model = tmp_path / "mlp.int8.tflite"
    shutil.copy(tiny_models["int8"], model)
    (deployed,) = studio.deploy(model, studio.resolve("local"))
    assert deployed.ok, deployed.message
    (local,) = [d for d in studio.device_summaries() if d.name == "local"]
    assert local.reachable is True and local.last_seen is not None
    assert local.active == "mlp.int8.tflite"
    (row,) = studio.bench(studio.resolve("local"), model, FAST)
    assert row.ok
    (local,) = [d for d in studio.device_summaries() if d.name == "local"]
    assert local.reachable is True and local.runtime  # the bench says which runtime
