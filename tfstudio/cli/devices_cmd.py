"""`tfstudio devices add|list|label|import|remove|show|trust|check`: the device registry from
the CLI, through the `Studio` facade the UI uses (trust: scan, then a prompt, then record)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfstudio.cli.grammar import set_default
from tfstudio.cli.output import add_json, print_json, print_table, show, wants_json
from tfstudio.cli.studio_cli import cli_studio

if TYPE_CHECKING:
    from tfstudio.operations import FleetResult
    from tfstudio.studio.types import CheckResult, Device, ImportResult, TrustResult


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

    lst = sub.add_parser("list", help="list devices with their labels and groups (the default)")
    lst.add_argument(
        "selector",
        nargs="?",
        metavar="SELECTOR",
        help="only these: names, all, or filters such as site=lab,group:cameras",
    )
    add_json(lst)
    lst.set_defaults(handler=_list)
    set_default(parser, lst)

    label = sub.add_parser(
        "label",
        help="set or remove labels and groups (selectors: --on site=lab, --on group:G)",
    )
    label.add_argument("name", metavar="NAME", help="the device")
    label.add_argument("changes", nargs="*", metavar="KEY=VALUE|KEY-")
    label.add_argument("--group", action="append", default=[], metavar="G", help="add to group G")
    label.add_argument(
        "--ungroup", action="append", default=[], metavar="G", help="remove from group G"
    )
    add_json(label)
    label.set_defaults(handler=_label)

    for name, func, text in (
        ("remove", _remove, "forget a device"),
        ("show", _show, "show one device"),
    ):
        one = sub.add_parser(name, help=text)
        one.add_argument("name", metavar="NAME", help="the device")
        add_json(one)
        one.set_defaults(handler=func)

    imp = sub.add_parser(
        "import",
        help="register the devices of an Ansible inventory (INI, YAML, --list JSON) or ssh config",
    )
    imp.add_argument("file", type=Path, metavar="INVENTORY")
    imp.add_argument(
        "--ssh-config",
        action="store_true",
        help="FILE is an ssh config: one device per Host entry that names one host",
    )
    imp.add_argument("--dry-run", action="store_true", help="say what would change; write nothing")
    imp.add_argument(
        "--prune", action="store_true", help="remove devices this file made that it no longer lists"
    )
    add_json(imp)
    imp.set_defaults(handler=_import)

    trust = sub.add_parser("trust", help="record a device's SSH host key")
    trust.add_argument("name", nargs="?", metavar="NAME", help="the device (or --all-new)")
    trust.add_argument("--fingerprint", help="expected SHA256:... fingerprint")
    trust.add_argument("--replace", action="store_true", help="replace a changed key")
    trust.add_argument(
        "--all-new",
        metavar="SELECTOR",
        nargs="?",
        const="all",
        help="every device whose key is not yet trusted (of SELECTOR, default all): show each "
        "fingerprint, ask once",
    )
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
    studio = cli_studio()
    devices = studio.resolve(args.selector) if args.selector else studio.devices()
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
            _labels_text(d),
        ]
        for d in devices
    ]
    print_table(["name", "kind", "host", "port", "agent", "labels"], rows)
    return 0


def _labels_text(device: Device) -> str:
    parts = [f"{k}={v}" for k, v in sorted(device.labels.items())]
    return " ".join([*parts, *(f"group:{g}" for g in device.groups)])


def _label(args: argparse.Namespace) -> int:
    device = cli_studio().label_device(
        args.name, args.changes, add_groups=args.group, remove_groups=args.ungroup
    )
    show(args, device, lambda d: print(f"{d.name}: {_labels_text(d) or 'no labels'}"))
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


def _import(args: argparse.Namespace) -> int:
    result = cli_studio().import_devices(
        args.file, ssh_config=args.ssh_config, dry_run=args.dry_run, prune=args.prune
    )
    show(args, result, _print_import)
    return 0


def _print_import(result: ImportResult) -> None:
    would = "would be " if result.dry_run else ""
    for change in result.changes:
        if change.action == "unchanged":
            continue
        detail = ", ".join(f"{k} {_v(o)} -> {_v(n)}" for k, (o, n) in change.fields.items())
        note = " (kept; --prune removes it)" if change.action == "gone" else ""
        print(f"{change.name}: {would}{change.action}{note}" + (f": {detail}" if detail else ""))
    for skip in result.skipped:
        print(f"{skip.name}: skipped: {skip.reason}", file=sys.stderr)
    counts = {a: len(result.named(a)) for a in ("added", "changed", "unchanged", "gone", "removed")}
    summary = ", ".join(f"{n} {a}" for a, n in counts.items() if n)
    print(f"{result.source}: {would}{summary or 'nothing'}"
          + (f", {len(result.skipped)} skipped" if result.skipped else ""))  # fmt: skip
    if counts["added"] and not result.dry_run:
        print("next: tfstudio devices trust --all-new")


def _v(value: Any) -> str:
    if value is None or value == []:
        return "-"
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def _trust(args: argparse.Namespace) -> int:
    """Trust in the UI's two calls: scan (shows the fingerprint), ask, record."""
    from tfstudio.errors import UsageError

    studio = cli_studio()
    if args.all_new is not None:
        if args.name or args.fingerprint or args.replace:
            raise UsageError("--all-new takes no NAME, --fingerprint or --replace")
        return _trust_all_new(args, args.all_new)
    if not args.name:
        raise UsageError("name a device (or --all-new)")
    result = studio.trust(
        studio.scan_host_key(args.name),
        fingerprint=args.fingerprint,
        confirm=None if wants_json(args) else _confirm,
        replace=args.replace,
    )
    show(args, result, print_trusted)
    return 0


def _trust_all_new(args: argparse.Namespace, selector: str) -> int:
    """Scans every device's key at once, shows the new ones, asks once, records them."""
    from tfstudio.errors import HostKeyError
    from tfstudio.studio.types import CHANGED, TRUSTED

    studio = cli_studio()
    scanned = studio.scan_host_keys(studio.resolve(selector))
    new = [
        s.offer for s in scanned if s.offer is not None and s.offer.status not in (TRUSTED, CHANGED)
    ]
    changed = [s.offer for s in scanned if s.offer is not None and s.offer.status == CHANGED]
    failed = [s for s in scanned if s.offer is None]
    for offer in changed:
        print(f"{offer.device}: HOST KEY CHANGED ({offer.recorded_fingerprint} -> "
              f"{offer.fingerprint}); not offered: tfstudio devices trust {offer.device} "
              "--fingerprint SHA256:... --replace", file=sys.stderr)  # fmt: skip
    for s in failed:
        print(f"{s.error}", file=sys.stderr)
    known = len(scanned) - len(new) - len(changed) - len(failed)
    if not new:
        show(args, {"trusted": [], "already_trusted": known}, lambda _: print(
            f"no new host keys ({known} already trusted)"))  # fmt: skip
        return 1 if failed or changed else 0
    if not wants_json(args):
        print_table(
            ["device", "host", "key", "fingerprint"],
            [[o.device, o.entry, o.key_type, o.fingerprint] for o in new],
            whole=["fingerprint"],
        )
    if wants_json(args) or not sys.stdin.isatty():
        raise HostKeyError(
            f"{len(new)} new host keys: trusting them needs a terminal to confirm",
            hint="run it on a terminal, or trust each: tfstudio devices trust NAME "
            "--fingerprint SHA256:...",
        )
    # Devices behind one address (one sshd, several users) offer one key: ask about keys.
    keys = list({(o.entry, o.fingerprint): o for o in new}.values())
    shared = f" of {len(new)} devices" if len(keys) != len(new) else ""
    answer = input(
        f"trust these {len(keys)} host key{'s' * (len(keys) != 1)}{shared} "
        "(compared out of band)? [y/N] "
    )
    if answer.strip().lower() not in ("y", "yes"):
        print("nothing recorded")
        return 1
    for offer in keys:
        studio.record_host_key(offer)
    print(
        f"trusted {len(keys)} host key{'s' * (len(keys) != 1)}{shared}"
        + (f" ({known} already trusted)" if known else "")
    )
    return 1 if failed or changed else 0


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
