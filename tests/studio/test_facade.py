"""`Studio` against real parts: the local device, loopback sshd devices, TensorFlow."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fleet.conftest import Lab
from tests.tui.conftest import add_locked_device
from tfstudio import history
from tfstudio.errors import HostKeyError
from tfstudio.fleet import deploylog
from tfstudio.fleet.connector import PassphraseRequired
from tfstudio.fleet.hostkey_offer import CHANGED, TRUSTED, UNKNOWN
from tfstudio.measure.bench import BenchSettings
from tfstudio.operations import Event, StageStarted, TargetFinished, TransferTick
from tfstudio.studio import Studio

FAST = BenchSettings(runs=5, warmup=1, min_seconds=0, warmup_min_seconds=0)


def test_deploy_events_speak_the_one_contract(tiny_models: dict[str, Path]) -> None:
    studio = Studio()
    events: list[Event] = []
    model = tiny_models["float16"]
    result = studio.deploy(
        model, studio.resolve("local"), bench=True, bench_settings=FAST, on_event=events.append
    )
    assert result.ok
    stages = [e.stage.value for e in events if isinstance(e, StageStarted)]
    assert stages == ["connect", "lock", "preflight", "push", "install", "bench"]
    assert isinstance(events[-1], TargetFinished)  # the device's end is its last event
    ticks = [e for e in events if isinstance(e, TransferTick)]
    assert ticks[-1].done == ticks[-1].total == model.stat().st_size
    (done,) = [e for e in events if isinstance(e, TargetFinished)]
    assert done.ok and done.data["bench"]["p99_ms"] > 0


def test_bench_is_stored_and_a_new_studio_shows_it(tiny_models: dict[str, Path]) -> None:
    studio = Studio()
    result = studio.bench(studio.resolve("local"), tiny_models["int8"], FAST)
    (row,) = result
    assert row.ok and row.value("p50_ms") > 0 and row.model == "mlp.int8.tflite"
    again = Studio()  # a restart shows the same world
    (stored,) = again.bench_history("local")
    assert stored["p50_ms"] == row.report["p50_ms"]
    local = next(s for s in again.device_summaries() if s.name == "local")
    assert local.p50_ms == row.report["p50_ms"] and local.last_seen == stored["time"]


def test_bench_speaks_the_one_contract_and_logs_each_report_once(
    lab: Lab, tiny_models: dict[str, Path]
) -> None:
    """Studio.bench delegates to the fleet's bench_many: its stages and the model's push to
    the device's scratch area arrive as events; the report is logged once."""
    lab.add("benchev")
    studio = Studio()
    events: list[Event] = []
    model = tiny_models["float16"]
    (row,) = studio.bench(studio.resolve("benchev"), model, FAST, on_event=events.append)
    assert row.ok and row.model == model.name and row.pushed_bytes >= model.stat().st_size
    stages = [e.stage.value for e in events if isinstance(e, StageStarted)]
    assert stages == ["connect", "bench"]
    ticks = [e for e in events if isinstance(e, TransferTick)]
    assert ticks and ticks[-1].done == ticks[-1].total == model.stat().st_size
    (done,) = [e for e in events if isinstance(e, TargetFinished)]
    assert done.ok and done.target == "benchev" and done.data["p50_ms"] == row.value("p50_ms")
    (stored,) = studio.bench_history("benchev")
    assert stored["model"] == model.name and stored["p50_ms"] == row.value("p50_ms")


def test_rollback_reactivates_the_previous_model_and_logs_it(tiny_models: dict[str, Path]) -> None:
    studio = Studio()
    local = studio.resolve("local")
    first = studio.deploy(tiny_models["float32"], local).outcome("local")
    second = studio.deploy(tiny_models["int8"], local).outcome("local")
    assert first.ok and second.ok
    answer = studio.rollback("local")
    assert answer["active"] == first.sha256
    assert deploylog.read("local")[-1]["result"] == "manual_rollback"
    assert studio.models_on("local")["active"] == first.sha256


def test_check_is_stored(tiny_models: dict[str, Path]) -> None:
    studio = Studio()
    (check,) = studio.check(studio.resolve("local"))
    assert check.ok
    assert history.latest_by_device(history.CHECKS)["local"]["reachable"] is True


def test_host_key_scan_then_record(lab: Lab) -> None:
    studio = Studio()
    lab.add("scanned", trust=False, install=False)
    offer = studio.scan_host_key("scanned")
    assert offer.status == UNKNOWN and offer.fingerprint == lab.servers[0].host_fingerprint
    studio.record_host_key(offer)
    assert studio.scan_host_key("scanned").status == TRUSTED
    (check,) = studio.check(studio.resolve("scanned"))
    assert check.reachable


def test_changed_host_key_is_not_recorded_without_replace(lab: Lab) -> None:
    studio = Studio()
    server = lab.sshd.start(f"facade-rekey{len(lab.sshd.servers)}")
    try:
        lab.add("rekeyed2", server=server, install=False)
        server.regenerate_host_key()
        offer = studio.scan_host_key("rekeyed2")
        assert offer.status == CHANGED and offer.recorded_fingerprint != offer.fingerprint
        with pytest.raises(HostKeyError, match="CHANGED"):
            studio.record_host_key(offer)
        studio.record_host_key(offer, replace=True)
        assert studio.scan_host_key("rekeyed2").status == TRUSTED
    finally:
        server.stop()


def test_encrypted_key_asks_between_calls(lab: Lab, tmp_path: Path) -> None:
    device = add_locked_device(lab, "locked", tmp_path)
    encrypted = Path(str(device.key))
    studio = Studio()  # no prompt callback: the UI's way

    with pytest.raises(PassphraseRequired) as info:
        studio.connector(device)
    assert info.value.key_path == str(encrypted) and not info.value.wrong

    studio.connector.remember(str(encrypted), "nope")
    with pytest.raises(PassphraseRequired) as info:
        studio.connector(device)
    assert info.value.wrong

    studio.connector.remember(str(encrypted), "s3cret")
    with studio.connector(device) as transport:
        assert transport.run(["true"]).ok

    # In a fan-out, the failed device's missing passphrase is there to ask for.
    fresh = Studio()
    (check,) = fresh.check([device])
    assert not check.reachable
    assert fresh.connector.missing_passphrases() == [str(encrypted)]


def test_readiness_names_the_fix_for_a_missing_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    parts = {p.part: p for p in Studio().readiness()}
    assert list(parts) == ["convert", "local device", "training"]
    training = parts["training"]
    assert not training.ok and training.fix == "install docker.io and start dockerd"
    assert "Docker Engine not reachable" in training.line
    assert "unix:///nonexistent/docker.sock" in training.line
    assert parts["convert"].ok and parts["local device"].ok


def test_conversion_lands_in_the_catalogue(mlp, tmp_path: Path) -> None:
    studio = Studio()
    events: list[Event] = []
    result = studio.convert(mlp.h5, tmp_path / "out", "float32", on_event=events.append)
    assert [e.stage.value for e in events if isinstance(e, StageStarted)] == [
        "load",
        "convert",
        "verify",
    ]
    (entry,) = Studio().models()
    assert entry.path == result.variants[0].path and entry.mode == "float32"
    assert entry.source == str(result.source.path)
