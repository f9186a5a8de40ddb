"""`tfstudio devices add|list|remove|show|trust|check`: the device registry from the CLI,
through the `Studio` facade the UI uses (trust: scan, then a prompt, then record)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from tfstudio.cli.grammar import set_default
from tfstudio.cli.output import add_json, print_json, print_table, show, wants_json
from tfstudio.cli.studio_cli import cli_studio

if TYPE_CHECKING:
    from tfstudio.operations import FleetResult
    from tfstudio.studio.types import CheckResult, Device, TrustResult


def register(subparsers: Any) -> None:
    """Adds `devices` and its subcommands."""
    parser = subparsers.add_parser("devices", help="register, trust and check devices")
    sub = parser.add_subparsers(dest="devices_command", metavar="SUBCOMMAND")

    add = sub.add_parser("add", help="register a device reached over SSH")
    add.add_argument("name", metavar="NAME", help="the device's name, e.g. pi1")
    add.add_argument("--host", required=True, help="hostname, IP or ~/.ssh/config alias")
    add.add_argument("--port", type=int)
    add.add_argument("--user")
    add.add_argument("--key", help="private key file")
    add.add_argument("--python", default="python3", help="Python on the device")
    add.add_argument("--agent-home", default=".tfstudio-agent", help="agent home on the device")
    add.add_argument("--ssh-config", help="ssh config file (default ~/.ssh/config)")
    add_json(add)
    add.set_defaults(handler=_add)

    lst = sub.add_parser("list", help="list devices (the default)")
    add_json(lst)
    lst.set_defaults(handler=_list)
    set_default(parser, lst)

    for name, func, text in (
        ("remove", _remove, "forget a device"),
        ("show", _show, "show one device"),
    ):
        one = sub.add_parser(name, help=text)
        one.add_argument("name", metavar="NAME", help="the device")
        add_json(one)
        one.set_defaults(handler=func)

    trust = sub.add_parser("trust", help="record a device's SSH host key")
    trust.add_argument("name", metavar="NAME", help="the device")
    trust.add_argument("--fingerprint", help="expected SHA256:... fingerprint")
    trust.add_argument("--replace", action="store_true", help="replace a changed key")
    add_json(trust)
    trust.set_defaults(handler=_trust)

    check = sub.add_parser("check", help="reachability, round trip, agent, runtime")
    check.add_argument("names", metavar="NAME[,NAME...]")
    add_json(check)
    check.set_defaults(handler=_check)


def _add(args: argparse.Namespace) -> int:
    from tfstudio.studio.types import Device

    device = cli_studio().add_device(
        Device(
            name=args.name,
            host=args.host,
            port=args.port,
            user=args.user,
            key=args.key,
            python=args.python,
            agent_home=args.agent_home,
            ssh_config=args.ssh_config,
        )
    )
    show(args, device, lambda d: print(f"added {d.name}; next: tfstudio devices trust {d.name}"))
    return 0


def _list(args: argparse.Namespace) -> int:
    devices = cli_studio().devices()
    if wants_json(args):
        print_json([d.to_json() for d in devices])
        return 0
    rows = [
        [
            d.name,
            d.kind,
            "-" if d.kind == "local" else f"{d.user or ''}{'@' if d.user else ''}{d.host}",
            d.port,
            d.agent_version,
        ]
        for d in devices
    ]
    print_table(["name", "kind", "host", "port", "agent"], rows)
    return 0


def _remove(args: argparse.Namespace) -> int:
    device = cli_studio().remove_device(args.name)
    show(args, {"removed": device.name}, lambda _: print(f"removed {device.name}"))
    return 0


def _show(args: argparse.Namespace) -> int:
    show(args, cli_studio().device(args.name), _print_fields)
    return 0


def _print_fields(device: Device) -> None:
    for key, value in device.to_json().items():
        print(f"{key:14} {'-' if value is None else value}")


def _confirm(text: str) -> bool:
    if not sys.stdin.isatty():
        return False
    answer = input(f"host key {text}\ntrust it? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _trust(args: argparse.Namespace) -> int:
    """Trust in the UI's two calls: scan (shows the fingerprint), ask, record."""
    studio = cli_studio()
    result = studio.trust(
        studio.scan_host_key(args.name),
        fingerprint=args.fingerprint,
        confirm=None if wants_json(args) else _confirm,
        replace=args.replace,
    )
    show(args, result, print_trusted)
    return 0


def print_trusted(result: TrustResult) -> None:
    """Says what a trust request did (`devices trust`, `engines trust`)."""
    if result.status == "already_trusted":
        print(f"{result.device}: {result.entry} already trusted ({result.fingerprint})")
    else:
        print(f"{result.device}: trusted {result.entry} {result.key_type} {result.fingerprint}")


def _check(args: argparse.Namespace) -> int:
    studio = cli_studio()
    results = studio.check(studio.resolve(args.names))
    show(args, results, _print_checks)
    bad = [r.device for r in results if not r.ok]
    if bad:
        print(f"tfstudio: error: not ready: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


def _print_checks(results: FleetResult[CheckResult]) -> None:
    rows = [
        [
            r.device,
            "yes" if r.reachable else "no",
            r.rtt_ms,
            r.agent if r.agent != "ok" else r.agent_version,
            f"{r.runtime['name']} {r.runtime['version']}" if r.runtime else None,
            r.arch,
            (r.active or {}).get("name"),
            r.service_text,
        ]
        for r in results
    ]
    headers = ["device", "reachable", "rtt_ms", "agent", "runtime", "arch", "active"]
    print_table([*headers, "service"], rows)
    for r in results:
        if r.error:
            print(f"{r.error}" + (f" ({r.hint})" if r.hint else ""), file=sys.stderr)
