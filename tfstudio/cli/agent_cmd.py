"""`tfstudio agent install NAME`: put the edge agent on a device."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tfstudio.cli.output import print_json


def register(subparsers: Any) -> None:
    """Adds `agent install`."""
    parser = subparsers.add_parser("agent", help="install the edge agent on a device")
    sub = parser.add_subparsers(dest="agent_command", metavar="SUBCOMMAND", required=True)
    install = sub.add_parser("install", help="push tfstudio-agent.pyz and check the device")
    install.add_argument("name")
    install.add_argument(
        "--runtime",
        choices=["ai-edge-litert", "tflite-runtime"],
        help="create a venv on the device and pip-install this runtime when missing",
    )
    install.add_argument("--json", action="store_true")
    install.set_defaults(handler=_install)


def _install(args: argparse.Namespace) -> int:
    from tfstudio.cli.deploy_cmd import connector
    from tfstudio.fleet.agent_install import install_agent
    from tfstudio.fleet.registry import get_device

    device = get_device(args.name)
    with connector()(device) as transport:
        result = install_agent(device, transport, runtime=args.runtime)
    if args.json:
        print_json(result.to_json())
    else:
        runtime = result.runtime or {}
        print(
            f"{result.device}: agent {result.agent_version} at {result.agent_path}; "
            f"python {result.python_version}, numpy {result.numpy or 'missing'}, "
            f"runtime {runtime.get('name', 'missing')} {runtime.get('version', '')}".rstrip()
        )
    if result.missing:
        print(
            f"tfstudio: error: {result.device} lacks {' and '.join(result.missing)} "
            f"(fix: tfstudio agent install {result.device} --runtime ai-edge-litert)",
            file=sys.stderr,
        )
        return 1
    return 0
