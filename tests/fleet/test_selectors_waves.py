"""Selectors (`--to site=lab,group:cameras`) and the cut of a rollout into waves: pure rules."""

from __future__ import annotations

import pytest

from tfstudio.cli import main
from tfstudio.deploy.waves import parse_waves, plan
from tfstudio.errors import DeviceError, UsageError
from tfstudio.fleet import labels, registry
from tfstudio.fleet.registry import Device


def _fleet() -> list[Device]:
    specs = [
        ("cam-1", {"site": "lab", "hw": "pi4"}, ("cameras",)),
        ("cam-2", {"site": "roof", "hw": "pi4"}, ("cameras", "outdoor")),
        ("gw-1", {"site": "lab", "hw": "pi5"}, ("gateways",)),
        ("gw-2", {}, ()),
    ]
    local = registry.local_device()
    return [local, *(Device(n, host="h", labels=lb, groups=g) for n, lb, g in specs)]


def _pick(text: str) -> list[str]:
    return [d.name for d in labels.select(labels.parse(text), _fleet())]


@pytest.mark.parametrize(
    ("selector", "names"),
    [
        ("all", ["local", "cam-1", "cam-2", "gw-1", "gw-2"]),
        ("gw-2,cam-1", ["gw-2", "cam-1"]),
        ("site=lab", ["cam-1", "gw-1"]),
        ("site=lab,hw=pi4", ["cam-1"]),
        ("hw=pi4|pi5,site!=roof", ["cam-1", "gw-1"]),
        ("group:cameras", ["cam-1", "cam-2"]),
        ("group:outdoor|gateways", ["cam-2", "gw-1"]),
        ("group:cameras,site=roof", ["cam-2"]),
        ("site!=lab", ["cam-2", "gw-2"]),  # filters pick registered devices, never `local`
    ],
)
def test_selectors_pick_by_name_label_and_group(selector: str, names: list[str]) -> None:
    assert _pick(selector) == names


@pytest.mark.parametrize(
    ("selector", "fragment"),
    [
        ("site=mars", "no device matches 'site=mars'"),
        ("cam-1,site=lab", "mixes device names with label filters"),
        ("all,cam-1", "mixes device names with all"),
        ("group:", "invalid group name ''"),
        ("site=a b", "invalid value 'a b'"),
        ("group=x", "invalid label key 'group'"),
        ("hw!=a|b", "'!=' takes one value"),
        (" , ", "no device named"),
    ],
)
def test_bad_selectors_are_one_line_errors(selector: str, fragment: str) -> None:
    with pytest.raises(DeviceError) as caught:
        _pick(selector)
    assert fragment in caught.value.message and "\n" not in caught.value.message


def test_label_command_sets_removes_and_groups(capsys) -> None:
    registry.add_device(Device("pi1", host="10.0.0.1"))
    assert main(["devices", "label", "pi1", "site=lab", "hw=pi4", "--group", "cams"]) == 0
    assert main(["devices", "label", "pi1", "hw-", "rack=3", "--ungroup", "cams"]) == 0
    device = registry.get_device("pi1")
    assert device.labels == {"site": "lab", "rack": "3"} and device.groups == ()
    assert main(["devices", "label", "pi1", "oops"]) == 1
    assert main(["devices", "label", "local", "site=lab"]) == 1
    err = capsys.readouterr().err
    assert "'oops' is neither KEY=VALUE nor KEY-" in err and "'local' is built in" in err
    assert registry.resolve_names("rack=3") == [registry.get_device("pi1")]


@pytest.mark.parametrize(
    ("count", "spec", "sizes"),
    [
        (12, "1,25%,100%", [1, 2, 9]),
        (5, "1,10%,100%", [1, 4]),  # 10% of 5 adds nobody after 1: dropped
        (3, "100%", [3]),
        (10, "2,2,50%,100%", [2, 3, 5]),
        (4, "1,50", [1, 3]),  # a count past the fleet is the fleet
    ],
)
def test_waves_are_cumulative_counts_or_percentages(
    count: int, spec: str, sizes: list[int]
) -> None:
    names = [f"d{i}" for i in range(count)]
    waves = plan(names, spec)
    assert [len(w) for w in waves] == sizes
    assert sorted(sum(waves, [])) == sorted(names)


def test_wave_order_is_deterministic_canaries_first_and_stable() -> None:
    names = [f"d{i:02d}" for i in range(20)]
    first = plan(names, "1,25%,100%", seed=3)
    assert plan(list(reversed(names)), "1,25%,100%", seed=3) == first
    assert plan(names, "1,25%,100%", seed=4) != first
    grown = plan([*names, "d99"], "100%", seed=3)[0]
    assert [n for n in grown if n != "d99"] == sum(first, [])  # joining keeps others' places
    canaried = plan(names, "1,100%", seed=3, canaries=["d07", "d03"])
    assert canaried[0] == ["d07", "d03"]  # wave 1 grows to hold every canary


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("1,25%", "reaches 3 of 12 devices"),
        ("1,x", "'x' is neither a device count nor a percentage"),
        ("0,100%", "out of range"),
        ("150%", "out of range"),
        ("1.5,100%", "whole number"),
    ],
)
def test_bad_waves_are_refused(spec: str, fragment: str) -> None:
    with pytest.raises(UsageError) as caught:
        plan([f"d{i}" for i in range(12)], spec)
    assert fragment in caught.value.message
    assert parse_waves("1,10%,100%")[1].reach(12) == 2


def test_a_canary_must_be_selected() -> None:
    with pytest.raises(UsageError, match="--canary zz is not among"):
        plan(["a", "b"], "100%", canaries=["zz"])
