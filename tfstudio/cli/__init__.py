"""The `tfstudio` command line: parse, dispatch to the core, print.

Each subcommand lives in its own `*_cmd` module exposing `register(subparsers)`.
Those modules import only argparse-level things at the top: the work (and its
heavy imports) happens inside the handler, so `tfstudio --help` stays fast and
never loads tensorflow, docker or paramiko.

Handlers return an exit code. A `TfStudioError` becomes one line on stderr (or a
JSON object with `error` under `--json`) and its exit code; no traceback. A
reader that closes the pipe early (`tfstudio ... | head`) ends the command
quietly with 141, as `git` and `ls` do.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from tfstudio import __version__
from tfstudio.cli.grammar import GRAMMAR, StudioParser
from tfstudio.errors import CancelledError, StateFileWarning, TfStudioError

COMMAND_MODULES = (
    "tfstudio.cli.demo_cmd",
    "tfstudio.cli.convert_cmd",
    "tfstudio.cli.inspect_cmd",
    "tfstudio.cli.compat_cmd",
    "tfstudio.cli.devices_cmd",
    "tfstudio.cli.agent_cmd",
    "tfstudio.cli.deploy_cmd",
    "tfstudio.cli.rollouts_cmd",
    "tfstudio.cli.bench_cmd",
    "tfstudio.cli.eval_cmd",
    "tfstudio.cli.metrics_cmd",
    "tfstudio.cli.predict_cmd",
    "tfstudio.cli.report_cmd",
    "tfstudio.cli.models_cmd",
    "tfstudio.cli.train_cmd",
    "tfstudio.cli.jobs_cmd",
    "tfstudio.cli.images_cmd",
    "tfstudio.cli.engines_cmd",
    "tfstudio.cli.gpu_cmd",
    "tfstudio.cli.watch_cmd",
    "tfstudio.cli.ui_cmd",
)
"""Subcommand modules, in the order `--help` lists them. Each must import: a command
that fails to load is an error, never a command silently missing from `--help`."""


def build_parser() -> argparse.ArgumentParser:
    """Returns the full argument parser with every available subcommand."""
    parser = StudioParser(
        prog="tfstudio",
        description="Take a TensorFlow model from training to a device in the field.",
        epilog=GRAMMAR,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tfstudio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE: what a shell reports for a command whose reader went away."""


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the CLI and returns the process exit code."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # a closed pipe shows up here for short outputs
        return code
    except BrokenPipeError:
        # Point stdout at /dev/null, so the interpreter's last flush fails no more.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    if argv is None and not sys.argv[1:] and sys.stdin.isatty() and sys.stdout.isatty():
        # No arguments on a terminal: the UI, before building any parser (first frame).
        from tfstudio.cli import ui_cmd

        return _guarded(ui_cmd.run, None, False)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    return _guarded(args.handler, args, bool(getattr(args, "json", False)))


def _guarded(handler: Callable[[Any], int], args: Any, want_json: bool) -> int:
    """Runs a handler; a TfStudioError or Ctrl-C becomes one line and an exit code, and a
    StateFileWarning (a log line skipped) one `tfstudio: warning:` line on stderr."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default", StateFileWarning)
            warnings.showwarning = _one_line_warnings(warnings.showwarning)
            return int(handler(args))
    except TfStudioError as exc:
        report_error(exc, want_json)
        return exc.exit_code
    except KeyboardInterrupt:
        report_error(CancelledError("interrupted"), want_json)
        return 130


def _one_line_warnings(show: Callable[..., None]) -> Callable[..., None]:
    """Returns a showwarning that prints a StateFileWarning as one line, others as before."""

    def show_warning(message: Any, category: Any, *args: Any, **kw: Any) -> None:
        if issubclass(category, StateFileWarning):
            print(f"tfstudio: warning: {message}", file=sys.stderr)
        else:
            show(message, category, *args, **kw)

    return show_warning


def report_error(exc: TfStudioError, want_json: bool) -> None:
    """Prints one error: a JSON object on stdout under --json, else one line on stderr."""
    if want_json:
        print(json.dumps(exc.to_json()))
    print(f"tfstudio: error: {exc}", file=sys.stderr)
