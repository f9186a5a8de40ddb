"""`tfstudio models --on NAME` (what a device stores) and `tfstudio rollback NAME`."""

from __future__ import annotations

import argparse
from typing import Any

from tfstudio.cli.output import human_bytes, print_json, render_table


def register(subparsers: Any) -> None:
    """Adds `models` and `rollback`."""
    models = subparsers.add_parser("models", help="list the models stored on a device")
    models.add_argument("--on", required=True, metavar="NAME")
    models.add_argument("--json", action="store_true")
    models.set_defaults(handler=_models)
    rollback = subparsers.add_parser("rollback", help="re-activate a device's previous model")
    rollback.add_argument("name")
    rollback.add_argument("--json", action="store_true")
    rollback.set_defaults(handler=_rollback)


def _call(name: str, command: str) -> dict[str, Any]:
    from tfstudio.cli.deploy_cmd import connector
    from tfstudio.fleet import deploylog
    from tfstudio.fleet.agentcall import AgentClient
    from tfstudio.fleet.registry import get_device

    device = get_device(name)
    with connector()(device) as transport:
        answer = AgentClient(device, transport).call(command)
    if command == "rollback":
        deploylog.append(
            {
                "device": device.name,
                "result": "manual_rollback",
                **answer,
                "sha256": answer["active"],
            }
        )
    return answer


def _models(args: argparse.Namespace) -> int:
    listing = _call(args.on, "list")
    if args.json:
        print_json(listing)
        return 0
    rows = [
        [
            "*"
            if m.get("active")
            else ("prev" if m.get("sha256") == listing.get("previous") else ""),
            str(m.get("sha256", ""))[:12],
            m.get("name"),
            human_bytes(m.get("size_bytes") or 0),
            m.get("min_runtime_version"),
            m.get("installed_at"),
        ]
        for m in listing.get("models", [])
    ]
    print(render_table(["", "sha256", "name", "size", "min_runtime", "installed"], rows))
    return 0


def _rollback(args: argparse.Namespace) -> int:
    answer = _call(args.name, "rollback")
    if args.json:
        print_json(answer)
    else:
        print(f"{args.name}: rolled back; active {str(answer.get('active'))[:12]}")
    return 0
