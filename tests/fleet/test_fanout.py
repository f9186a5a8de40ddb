"""Fan-out: one device down and one refused by preflight never stop the others."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fleet.conftest import Lab
from tests.helpers.sshd import free_port
from tfstudio.cli import main
from tfstudio.fleet import deploylog, registry


def test_fanout_to_eight_devices_with_one_down_and_one_refused(
    lab: Lab, tiny_models: dict[str, Path], capsys
) -> None:
    healthy = [f"fan{i}" for i in range(6)]
    for i, name in enumerate(healthy):
        lab.add(name, server=i, user=i % 2)
    lab.add("fanold", server=6, python="old-device")
    registry.add_device(
        registry.Device(
            name="fandown",
            host="127.0.0.1",
            port=free_port(),
            user=lab.users[0],
            key=str(lab.sshd.client_key),
        )
    )
    names = ",".join([*healthy[:3], "fandown", *healthy[3:], "fanold"])
    code = main(["deploy", str(tiny_models["dynamic"]), "--to", names, "--json"])
    captured = capsys.readouterr()
    results = {r["device"]: r for r in json.loads(captured.out)}
    assert code == 1
    assert list(results) == names.split(",")
    for name in healthy:
        assert results[name]["status"] == "ok", results[name]["message"]
    assert results["fandown"]["status"] == "failed"
    assert "connection refused" in results["fandown"]["message"]
    assert results["fanold"]["status"] == "refused"
    assert results["fanold"]["bytes_sent"] == 0
    assert "fandown (failed)" in captured.err and "fanold (refused)" in captured.err
    logged = {e["device"]: e["result"] for e in deploylog.read()}
    assert logged == {name: r["status"] for name, r in results.items()}


def test_hung_device_times_out_without_stopping_the_others(
    lab: Lab, tiny_models: dict[str, Path]
) -> None:
    import socket

    from tfstudio.deploy.options import DeployOptions, Status
    from tfstudio.deploy.run import deploy_many
    from tfstudio.models.facts import inspect_model

    # A port that accepts TCP connections but never says a word of SSH.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        hung = registry.add_device(
            registry.Device(
                name="hung",
                host="127.0.0.1",
                port=silent.getsockname()[1],
                user=lab.users[0],
                key=str(lab.sshd.client_key),
            )
        )
        live = lab.add("alive", server=5)
        model = tiny_models["float32"]
        results = deploy_many(
            model, inspect_model(model), [hung, live], DeployOptions(connect_timeout=1.5)
        )
    finally:
        silent.close()
    assert results[0].status is Status.FAILED and "handshake" in results[0].message
    assert results[1].status is Status.OK


def test_check_reports_every_device_and_names_the_unreachable(lab: Lab, capsys) -> None:
    lab.add("chk-up", server=2)
    registry.add_device(
        registry.Device(name="chk-down", host="127.0.0.1", port=free_port(), user="x")
    )
    assert main(["devices", "check", "chk-up,chk-down,local", "--json"]) == 1
    captured = capsys.readouterr()
    results = {r["device"]: r for r in json.loads(captured.out)}
    assert results["chk-up"]["ok"] and results["chk-up"]["runtime"]["name"] == "ai-edge-litert"
    assert results["local"]["ok"]
    assert not results["chk-down"]["reachable"]
    assert "connection refused" in results["chk-down"]["error"]
    assert "not ready: chk-down" in captured.err
