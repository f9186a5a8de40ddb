"""`tfstudio agent install NAME|SELECTOR` and `agent serve NAME`: put the edge agent on a
device (or every device a selector picks, at once), run it as a service."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from tfstudio.cli.grammar import set_default
from tfstudio.cli.output import add_json, print_json, print_table, show, wants_json

if TYPE_CHECKING:
    from tfstudio.studio.types import AgentInstallResult


def register(subparsers: Any) -> None:
    """Adds `agent list` (the default), `agent install` and `agent serve`."""
    parser = subparsers.add_parser("agent", help="install the edge agent, run it as a service")
    sub = parser.add_subparsers(dest="agent_command", metavar="SUBCOMMAND")
    lst = sub.add_parser(
        "list", help="each device's agent as last seen (the default; connects to none)"
    )
    add_json(lst)
    lst.set_defaults(handler=_list)
    set_default(parser, lst)
    install = sub.add_parser(
        "install", help="push tfstudio-agent.pyz and check the device (or every selected one)"
    )
    install.add_argument("name", metavar="NAME|SELECTOR", help="the device, or a selector")
    install.add_argument(
        "--runtime",
        choices=["ai-edge-litert", "tflite-runtime"],
        help="create a venv on the device and pip-install this runtime when missing",
    )
    add_json(install)
    install.set_defaults(handler=_install)

    serve = sub.add_parser(
        "serve",
        help="run the agent's server on a device as a service (127.0.0.1 only)",
        description="Keeps the agent's HTTP server running on the device, bound to its "
        "127.0.0.1: a systemd user unit where `systemctl --user` works, else the agent's "
        "own supervisor, which restarts it after a crash. The studio reaches it through "
        "SSH (tfstudio metrics, tfstudio predict); no port is opened on the device.",
    )
    serve.add_argument("name", metavar="NAME", help="the device")
    action = serve.add_mutually_exclusive_group(required=True)
    action.add_argument("--enable", action="store_true", help="start it and keep it running")
    action.add_argument("--disable", action="store_true", help="stop it and remove it")
    action.add_argument("--status", action="store_true", help="is it running, since when")
    serve.add_argument(
        "--port",
        type=int,
        default=8501,
        help="port on the device's loopback (default 8501; 0: a free one)",
    )
    serve.add_argument(
        "--mode",
        choices=["auto", "systemd", "process"],
        default="auto",
        help="auto: systemd --user when it works, else a supervised process",
    )
    serve.add_argument(
        "--no-token", action="store_true", help="no bearer token (any local user may call it)"
    )
    add_json(serve)
    serve.set_defaults(handler=_serve)


def _list(args: argparse.Namespace) -> int:
    from tfstudio.cli.studio_cli import cli_studio

    summaries = cli_studio().device_summaries()
    found = [
        {
            "device": d.name,
            "agent": "built in" if d.device.kind == "local" else d.agent,
            "runtime": d.runtime,
            "online": d.reachable,
            "last_seen": d.last_seen,
        }
        for d in summaries
    ]
    show(args, found, lambda rows: print_table(
        ["device", "agent", "runtime", "online", "last seen"],
        [[r["device"], r["agent"], r["runtime"], r["online"], r["last_seen"]] for r in rows],
    ))  # fmt: skip
    return 0


def _install(args: argparse.Namespace) -> int:
    from tfstudio.cli.studio_cli import cli_studio

    studio = cli_studio()
    names = [d.name for d in studio.resolve(args.name)]
    if len(names) > 1 or names != [args.name]:
        return _install_many(args, names)
    result = studio.install_agent(args.name, runtime=args.runtime)
    show(args, result, _print_install)
    if result.missing:
        print(
            f"tfstudio: error: {result.device} lacks {' and '.join(result.missing)} "
            f"(fix: tfstudio agent install {result.device} --runtime ai-edge-litert)",
            file=sys.stderr,
        )
        return 1
    return 0


def _install_many(args: argparse.Namespace, names: list[str]) -> int:
    """`agent install SELECTOR`: every device at once; one line (or object) each."""
    from tfstudio.cli.studio_cli import cli_studio
    from tfstudio.errors import TfStudioError

    results = cli_studio().install_agents(names, runtime=args.runtime)
    bad = []
    for name, result in zip(names, results):
        if isinstance(result, TfStudioError) or result.missing:
            bad.append(name)
    if wants_json(args):
        print_json([r.to_json() for r in results])
    else:
        for result in results:
            if isinstance(result, TfStudioError):
                print(f"{result}", file=sys.stderr)
            else:
                _print_install(result)
    if bad:
        print(f"tfstudio: error: the agent is not ready on: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


def _print_install(result: AgentInstallResult) -> None:
    runtime = result.runtime or {}
    print(
        f"{result.device}: agent {result.agent_version} at {result.agent_path}; "
        f"python {result.python_version}, numpy {result.numpy or 'missing'}, "
        f"runtime {runtime.get('name', 'missing')} {runtime.get('version', '')}".rstrip()
    )


def _serve(args: argparse.Namespace) -> int:
    from tfstudio.cli.studio_cli import cli_studio

    action = "enable" if args.enable else "disable" if args.disable else "status"
    state = cli_studio().service(
        args.name, action, port=args.port, mode=args.mode, token=not args.no_token
    )
    if wants_json(args):
        print_json(state.to_json())
        return 0
    if action == "disable":
        done = "stopped and removed" if state.changed else "was not enabled"
        print(f"{state.device}: service {done}")
        return 0
    model = (state.active or {}).get("name") or (state.active or {}).get("sha256", "")[:12]
    line = f"{state.device}: service {state.summary()}"
    if state.running:
        line += f"; model {model or 'none yet'}"
    print(line)
    probe = state.systemd or {}
    if (
        action == "enable"
        and state.mode == "process"
        and probe.get("reason") not in (None, "not asked")
    ):
        print(f"{state.device}: note: no systemd --user ({probe['reason']})", file=sys.stderr)
    if state.hint and (action == "enable" or not state.running):
        print(f"{state.device}: note: {state.hint}", file=sys.stderr)
    return 0 if state.running or action == "status" else 1
