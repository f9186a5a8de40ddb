"""`tfstudio engines add|list|check|trust|remove`: the Docker Engines training runs on."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from tfstudio.cli.engine_opts import confirm
from tfstudio.cli.output import add_json, human_bytes, print_json, print_table, show, wants_json
from tfstudio.cli.studio_cli import cli_training

if TYPE_CHECKING:
    from tfstudio.studio.training_types import EngineReport
    from tfstudio.studio.types import Engine


def register(subparsers: Any) -> None:
    """Adds `engines` and its subcommands."""
    parser = subparsers.add_parser("engines", help="Docker Engines for training (local or ssh://)")
    sub = parser.add_subparsers(dest="engines_command", metavar="SUBCOMMAND", required=True)

    add = sub.add_parser("add", help="register an engine")
    add.add_argument("name")
    add.add_argument(
        "--url",
        required=True,
        help="ssh://user@host[:port] (host may be a ~/.ssh/config alias), tcp://host:port "
        "or unix:///path.sock",
    )
    add.add_argument("--key", help="SSH private key file (ssh:// engines)")
    add.add_argument("--ssh-config", help="ssh config file (default ~/.ssh/config)")
    add.add_argument("--tls-ca", help="CA certificate (tcp:// with TLS)")
    add.add_argument("--tls-cert", help="client certificate (tcp:// with TLS)")
    add.add_argument("--tls-key", help="client key (tcp:// with TLS)")
    add.add_argument("--workspace", help="default job workspace: a path on the engine's host")
    add.add_argument("--timeout", type=float, default=60.0, help="seconds per engine API call")
    add_json(add)
    add.set_defaults(handler=_add)

    lst = sub.add_parser("list", help="list engines")
    add_json(lst)
    lst.set_defaults(handler=_list)

    check = sub.add_parser(
        "check", help="reachable? version, NVIDIA runtime, GPUs, images, swarm manager?"
    )
    check.add_argument("name", nargs="?", help="one engine (default: every engine)")
    add_json(check)
    check.set_defaults(handler=_check)

    trust = sub.add_parser("trust", help="record an ssh:// engine's host key")
    trust.add_argument("name")
    trust.add_argument("--fingerprint", help="expected SHA256:... fingerprint")
    trust.add_argument("--replace", action="store_true", help="replace a changed key")
    add_json(trust)
    trust.set_defaults(handler=_trust)

    remove = sub.add_parser("remove", help="forget an engine")
    remove.add_argument("name")
    add_json(remove)
    remove.set_defaults(handler=_remove)


def _add(args: argparse.Namespace) -> int:
    from tfstudio.studio.types import Engine

    with cli_training() as training:
        engine = training.add_engine(
            Engine(
                name=args.name,
                url=args.url,
                key=args.key,
                ssh_config=args.ssh_config,
                tls_ca=args.tls_ca,
                tls_cert=args.tls_cert,
                tls_key=args.tls_key,
                workspace=args.workspace,
                timeout_s=args.timeout,
            )
        )
    show(args, engine, _print_added)
    return 0


def _print_added(engine: Engine) -> None:
    step = "trust" if engine.scheme == "ssh" else "check"
    print(f"added {engine.name}; next: tfstudio engines {step} {engine.name}")


def _list(args: argparse.Namespace) -> int:
    with cli_training() as training:
        engines = training.engines()
        default = training.settings().engine
        contexts = training.docker_contexts()
        where = training.docker_config_dir()
    if wants_json(args):
        found = []
        for e in engines:
            entry = e.to_json() | {"default": e.name == default}
            if e.name == "local":
                entry["docker_contexts"] = [c.to_json() for c in contexts]
            found.append(entry)
        print_json(found)
        return 0
    rows = [
        [e.name + (" *" if e.name == default else ""), e.url, e.origin, e.workspace]
        for e in engines
    ]
    print_table(["engine", "url", "from", "workspace"], rows)
    local = next(e for e in engines if e.name == "local")
    print()
    print(_local_line(local))
    if any(c.name != "default" for c in contexts):
        errors = any(c.error for c in contexts)
        rows = [
            [
                c.name + (" *" if c.current else ""),
                c.endpoint.url,
                c.endpoint.tls_mode or ("plain" if c.endpoint.url.startswith("tcp://") else None),
                *([c.error] if errors else []),
            ]
            for c in contexts
        ]
        print()
        print_table(
            ["context", "endpoint", "tls", *(["error"] if errors else [])],
            rows,
            title=f"docker contexts in {where} (* the one local follows)",
        )
    return 0


def _local_line(local: Engine) -> str:
    """Where `local` points and why, in one line (and what is wrong with it)."""
    if local.problem:
        fix = f" ({local.problem_hint})" if local.problem_hint else ""
        return f"local cannot be used: {local.problem}{fix}"
    if local.tls:
        client = "with client certificate" if local.tls_cert else "no client certificate"
        how = f"TLS, {'verified' if local.verify else 'NOT verified'}, {client}"
    elif local.scheme == "tcp":
        how = "plain HTTP"
    else:
        how = local.scheme
    return f"local is {local.url} ({how}), from {local.source}"


def _check(args: argparse.Namespace) -> int:
    with cli_training() as training:
        report = training.check_engines([args.name] if args.name else None)
    results = report.statuses
    show(args, report, _print_checks)
    down = [r.name for r in results if not r.reachable]
    if down:
        print(f"tfstudio: error: not reachable: {', '.join(down)}", file=sys.stderr)
        return 1
    return 0


def _print_checks(report: EngineReport) -> None:
    rows = [
        [
            r.name,
            "yes" if r.reachable else "no",
            r.server_version,
            "yes" if r.nvidia_runtime else ("no" if r.reachable else None),
            r.gpus,
            r.images,
            r.running_jobs,
            human_bytes(r.memory_bytes) if r.memory_bytes else None,
            r.swarm,
            r.rtt_ms,
        ]
        for r in report.statuses
    ]
    headers = ["engine", "reachable", "version", "nvidia", "gpus", "images", "jobs", "memory"]
    print_table([*headers, "swarm", "rtt_ms"], rows)
    for r in report.statuses:
        if r.error:
            print(r.error + (f" ({r.hint})" if r.hint else ""), file=sys.stderr)
        elif r.swarm_hint:
            hint = f"{r.name}: multi-worker jobs need a swarm manager: {r.swarm_hint}"
            print(hint, file=sys.stderr)


def _trust(args: argparse.Namespace) -> int:
    """Trust in the UI's two calls: scan (shows the fingerprint), ask, record."""
    from tfstudio.cli.devices_cmd import print_trusted

    with cli_training() as training:
        result = training.trust_engine(
            args.name,
            fingerprint=args.fingerprint,
            confirm=None
            if wants_json(args)
            else (lambda text: confirm(f"host key {text}\ntrust it?")),
            replace=args.replace,
        )
    show(args, result, print_trusted)
    return 0


def _remove(args: argparse.Namespace) -> int:
    with cli_training() as training:
        engine = training.remove_engine(args.name)
    show(args, {"removed": engine.name}, lambda _: print(f"removed {engine.name}"))
    return 0
