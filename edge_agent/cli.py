"""The agent's command line: argparse, one-line (or JSON) errors, exit codes.

Exit codes: 0 ok, 1 error, 2 usage. With `--json` (before or after the
command) results and errors are one JSON object on stdout; without it, results
are human text and an error is one line on stderr. The command set and output
shapes are the contract with the studio, which runs this over SSH.

`info`, `version` and `session` in their plain forms (`[--home H] [--json]
COMMAND [--json]`) skip argparse and every import they do not need: `info`
is the agent's cold start (a person's first command, the studio's first
question) and `session` starts every deploy, on devices where each import
costs real time.
"""

from __future__ import annotations

import os
import sys

from edge_agent import __version__
from edge_agent.errors import AgentError

TYPE_CHECKING = False  # typing and argparse load only when needed (see the docstring)
if TYPE_CHECKING:
    import argparse
    from pathlib import Path
    from typing import Any, Callable, Dict, List, NoReturn, Optional

DEFAULT_HOME = "~/.tfstudio-agent"

QUICK = ("info", "version", "session")
"""Commands run without argparse when given in their plain form (see the docstring)."""


class QuickArgs:
    """What argparse would have made of a plain `info`, `version` or `session`."""

    def __init__(self, command: str, home: str, as_json: bool) -> None:
        self.command = command
        self.home = home
        self.json = as_json
        self.version = False


def quick_args(argv: List[str]) -> Optional[QuickArgs]:
    """Returns the arguments of a plain QUICK command line, or None for argparse to parse."""
    home = os.environ.get("TFSTUDIO_AGENT_HOME", DEFAULT_HOME)
    as_json = False
    command = None
    words = list(argv)
    while words:
        word = words.pop(0)
        if word == "--json":
            as_json = True
        elif command is None and word.startswith("--home="):
            home = word[len("--home=") :]
        elif command is None and word == "--home" and words:
            home = words.pop(0)
        elif command is None and word in QUICK:
            command = word
        else:
            return None
    return QuickArgs(command, home, as_json) if command is not None else None


def _parser_class() -> Any:
    import argparse

    class _Parser(argparse.ArgumentParser):
        """An ArgumentParser whose errors become AgentError(usage) instead of exiting."""

        def error(self, message: str) -> NoReturn:
            raise AgentError(f"{self.prog}: {message}", "usage", hint=f"see: {self.prog} --help")

    return _Parser


def build_parser() -> argparse.ArgumentParser:
    """Returns the parser of every command."""
    import argparse

    from edge_agent import cli_measure

    _Parser = _parser_class()
    parser = _Parser(prog="tfstudio-agent", description="The tfstudio edge agent.")
    parser.add_argument("--home", default=os.environ.get("TFSTUDIO_AGENT_HOME", DEFAULT_HOME))
    parser.add_argument("--json", action="store_true", help="JSON on stdout")
    parser.add_argument("--version", action="store_true", help="print the agent version")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        # SUPPRESS: `--json` after the command must not reset one given before it.
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
        return p

    def writer(name: str, help_text: str) -> argparse.ArgumentParser:
        p = command(name, help_text)
        p.add_argument("--id", help="record this write's outcome under ID (see: outcome)")
        p.add_argument("--lock-id", help="run inside the deploy that holds the device lock ID")
        return p

    command("info", "what this device is and can do")
    command("version", "the agent version")
    p = writer("install", "verify, validate, store and activate a model")
    p.add_argument("path")
    p.add_argument("--name")
    p.add_argument("--sha256")
    p.add_argument("--no-activate", action="store_true")
    p.add_argument(
        "--keep",
        type=int,
        help="afterwards, prune to N models (the active one and its rollback target stay)",
    )
    p.add_argument("--timeout", type=float, default=60.0, help="validation timeout (s)")
    command("list", "stored models and the active one")
    p = writer("activate", "make a stored model active")
    p.add_argument("sha")
    writer("rollback", "re-activate the previously active model")
    p = writer("prune", "remove stored models; never the active one nor its rollback target")
    p.add_argument("--keep", type=int, required=True, help="models to keep (at least 1)")
    p.add_argument("--drop-rollback", action="store_true",
                   help="remove the rollback target too (rollback cannot go back)")  # fmt: skip
    p = command("lock", "hold the device lock for a deploy until stdin closes")
    p.add_argument("--id", required=True, help="the deploy's lock id")
    p.add_argument("--owner", default="", help="who deploys (shown to a refused deploy)")
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the lock")
    p.add_argument("--for", dest="for_sha", help="the sha256 the deploy installs")
    p.add_argument("--need", type=int, default=0, help="bytes the deploy needs free")
    p = command("outcome", "what became of a write started with --id")
    p.add_argument("op_id", metavar="ID")
    p.add_argument("--wait", type=float, default=0.0, help="wait this long for it to end")
    p = command("bench", "on-device latency, benchmark_model style")
    p.add_argument("--model", help="stored sha (or prefix) or a .tflite path; default: active")
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--min-seconds", type=float, default=1.0)
    p.add_argument("--warmup-min-seconds", type=float, default=0.5)
    p.add_argument("--threads", type=cli_measure.thread_counts, help="N, or a sweep: 1,2,4")
    p.add_argument("--input", default="random", help="random | zeros | FILE.npy | FILE.npz")
    p.add_argument("--input-sha256", help="refuse the --input file unless it hashes to this")
    p.add_argument("--profile-ops", action="store_true")
    p.add_argument("--signature", help="the signature to run (default: serving_default)")
    command("status", "server, active model, last bench")
    command("session", "one deploy's agent: JSON-line requests on stdin, answers on stdout")
    p = command("serve", "serve the active model over HTTP (TF Serving shape)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--token", default=os.environ.get("TFSTUDIO_AGENT_TOKEN"))
    p.add_argument("--max-body-bytes", type=int, default=4 * 1024 * 1024,
                   help="largest request body taken (413 beyond; default 4 MiB)")  # fmt: skip
    p.add_argument("--max-inflight", type=int, default=8,
                   help="requests whose bodies are held at once (default 8)")  # fmt: skip
    p.add_argument("--inflight-wait", type=float, default=5.0,
                   help="seconds a request waits for a slot before 503 (default 5)")  # fmt: skip
    p.add_argument("--max-connections", type=int, default=512,
                   help="open connections at most (default 512)")  # fmt: skip
    p.add_argument("--header-timeout", type=float, default=10.0,
                   help="seconds a request head may take after its first byte")  # fmt: skip
    cli_measure.add_commands(command)
    return parser


def home_dir(home: str) -> str:
    """Returns the agent home `home` (`~` expanded) as an absolute path."""
    path = os.path.expanduser(home)
    return path if os.path.isabs(path) else os.path.join(os.getcwd(), path)


def _home(args: argparse.Namespace) -> Path:
    from pathlib import Path

    return Path(home_dir(args.home))


def _path(text: str) -> Path:
    from pathlib import Path

    return Path(text)


def _store(args: argparse.Namespace) -> Any:
    from edge_agent.store import Store

    return Store(_home(args))


def cmd_info(args: argparse.Namespace) -> Dict[str, Any]:
    from edge_agent.device_info import home_info

    return home_info(home_dir(args.home))


def cmd_version(args: argparse.Namespace) -> Dict[str, Any]:
    return {"agent_version": __version__}


def _recorded(args: argparse.Namespace, op: str, write: Callable[[], Dict[str, Any]]) -> Any:
    from edge_agent.commands import recorded

    return recorded(_store(args), args.id, op, write)


def cmd_install(args: argparse.Namespace) -> Dict[str, Any]:
    from edge_agent.install import install_model

    return _recorded(
        args,
        "install",
        lambda: install_model(
            _store(args),
            _path(args.path),
            name=args.name,
            expected_sha=args.sha256,
            activate=not args.no_activate,
            keep=args.keep,
            timeout_s=args.timeout,
            lock_id=args.lock_id,
        ),
    )


def cmd_list(args: argparse.Namespace) -> Dict[str, Any]:
    return _store(args).listing()


def cmd_activate(args: argparse.Namespace) -> Dict[str, Any]:
    return _recorded(args, "activate", lambda: _store(args).activate(args.sha, args.lock_id))


def cmd_rollback(args: argparse.Namespace) -> Dict[str, Any]:
    return _recorded(args, "rollback", lambda: _store(args).rollback(args.lock_id))


def cmd_prune(args: argparse.Namespace) -> Dict[str, Any]:
    return _recorded(
        args, "prune", lambda: _store(args).prune(args.keep, args.lock_id, args.drop_rollback)
    )


def cmd_lock(args: argparse.Namespace) -> Optional[Dict[str, Any]]:
    from edge_agent import commands

    commands.serve_lock(
        _store(args),
        lock_id=args.id,
        owner=args.owner,
        wait_s=args.wait,
        for_sha=args.for_sha,
        need_bytes=args.need,
        as_json=args.json,
    )
    return None


def cmd_outcome(args: argparse.Namespace) -> Dict[str, Any]:
    from edge_agent.commands import outcome_of

    return outcome_of(_store(args), args.op_id, args.wait)


def cmd_bench(args: argparse.Namespace) -> Dict[str, Any]:
    from edge_agent import cli_measure

    return cli_measure.run_bench_command(_store(args), args)


def cmd_status(args: argparse.Namespace) -> Dict[str, Any]:
    from edge_agent.commands import status_of

    return status_of(_store(args))


def cmd_session(args: argparse.Namespace) -> Optional[Dict[str, Any]]:
    from edge_agent.session import run_session

    run_session(_store(args))
    return None


def cmd_serve(args: argparse.Namespace) -> Dict[str, Any]:
    from edge_agent.server import Limits, serve

    limits = Limits(
        max_body_bytes=args.max_body_bytes,
        max_inflight=args.max_inflight,
        inflight_wait_s=args.inflight_wait,
        max_connections=args.max_connections,
        reserved_connections=max(1, args.max_connections // 8),
        header_timeout_s=args.header_timeout,
    )
    serve(
        _store(args),
        host=args.host,
        port=args.port,
        token=args.token,
        json_lines=args.json,
        limits=limits,
    )
    return {"stopped": True}


MEASURE_COMMANDS = ("eval", "service")
"""Commands of `cli_measure`, imported only when one of them runs."""


def _measure_command(name: str) -> Callable[[argparse.Namespace], Optional[Dict[str, Any]]]:
    def run(args: argparse.Namespace) -> Optional[Dict[str, Any]]:
        from edge_agent import cli_measure

        return cli_measure.COMMANDS[name](args)

    return run


COMMANDS: Dict[str, Callable[[argparse.Namespace], Optional[Dict[str, Any]]]] = {
    "info": cmd_info,
    "version": cmd_version,
    "install": cmd_install,
    "list": cmd_list,
    "activate": cmd_activate,
    "rollback": cmd_rollback,
    "prune": cmd_prune,
    "lock": cmd_lock,
    "outcome": cmd_outcome,
    "bench": cmd_bench,
    "status": cmd_status,
    "serve": cmd_serve,
    "session": cmd_session,
    **{name: _measure_command(name) for name in MEASURE_COMMANDS},
}


def _human(command: str, result: Dict[str, Any]) -> str:
    import json

    from edge_agent import cli_measure

    text = cli_measure.human(command, result)
    if text is not None:
        return text
    if command == "list":
        lines = []
        for m in result["models"]:
            mark = "*" if m["active"] else " "
            lines.append(
                f"{mark} {m['sha256'][:12]}  {m['name'] or '-':<24} {m['size_bytes']:>10} B  "
                f"installed {m['installed_at']}  activated {m['activated_at'] or '-'}"
            )
        return "\n".join(lines) if lines else "no models installed"
    if command == "bench":
        return (
            f"{result['model']['name']} ({result['model']['sha256'][:12]}), "
            f"{result['runs']} runs, threads={result['threads']}: "
            f"init {result['init_ms']:.2f} ms, first {result['first_invoke_ms']:.2f} ms, "
            f"p50 {result['p50_ms']:.3f} ms, p90 {result['p90_ms']:.3f} ms, "
            f"p99 {result['p99_ms']:.3f} ms"
        )
    return "\n".join(
        f"{k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}" for k, v in result.items()
    )


def _emit_error(exc: AgentError, as_json: bool) -> None:
    import json

    if as_json:
        sys.stdout.write(json.dumps(exc.to_json()) + "\n")
    else:
        hint = f" (hint: {exc.hint})" if exc.hint else ""
        sys.stderr.write(f"error: {exc.message}{hint}\n")


def _run(argv: List[str]) -> int:
    as_json = "--json" in argv
    try:
        args: Any = quick_args(argv) or build_parser().parse_args(argv)
        as_json = bool(getattr(args, "json", False))
        result: Optional[Dict[str, Any]]
        if args.version and args.command is None:
            result = {"agent_version": __version__}
            command = "version"
        elif args.command is None:
            raise AgentError("no command given", "usage", hint="see: tfstudio-agent --help")
        else:
            command = args.command
            result = COMMANDS[command](args)
    except AgentError as exc:
        _emit_error(exc, as_json)
        return 2 if exc.code == "usage" else 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise
    except Exception as exc:  # noqa: BLE001 - a bug must still be one line, not a traceback
        _emit_error(AgentError(f"internal error: {type(exc).__name__}: {exc}", "internal"), as_json)
        return 1
    import json

    if result is None:
        pass  # the command wrote its own answers (lock, session)
    elif as_json:
        sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    elif command == "version":
        sys.stdout.write(f"tfstudio-agent {__version__}\n")
    else:
        sys.stdout.write(_human(command, result) + "\n")
    sys.stdout.flush()
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Runs one command; returns the exit code (0 ok, 1 error, 2 usage).

    A reader that went away (the studio's link dropped, `| head`) ends it
    quietly: a write's outcome is recorded before its answer is printed.
    """
    try:
        return _run(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush fails no more.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1
