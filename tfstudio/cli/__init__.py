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
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from tfstudio import __version__
from tfstudio.cli.command_index import COMMANDS
from tfstudio.cli.grammar import GRAMMAR, StudioParser
from tfstudio.errors import CancelledError, StateFileWarning, TfStudioError

if TYPE_CHECKING:
    from typing import Any

COMMAND_MODULES = tuple(dict.fromkeys(f"tfstudio.cli.{module}" for _, module, _ in COMMANDS))
"""Subcommand modules, in the order `--help` lists them. Each must import: a command
that fails to load is an error, never a command silently missing from `--help`."""


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Returns the argument parser; with `argv`, only the module of the command it names loads.

    Without `argv` every command module is imported and registered (the full
    grammar, for tests and tools). With `argv`, the other commands are listed from
    the index (`command_index.COMMANDS`) by name and help alone, which is all
    `tfstudio --help` shows. Raises ImportError when a needed module fails to load.
    """
    parser = StudioParser(
        prog="tfstudio",
        description="Take a TensorFlow model from training to a device in the field.",
        epilog=GRAMMAR,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"tfstudio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = None if argv is None else _command_module(argv)
    for name, module, help_text in COMMANDS:
        if name in sub.choices:
            continue  # registered with an earlier command of its module
        if argv is None or module == wanted:
            importlib.import_module(f"tfstudio.cli.{module}").register(sub)
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter keeping the grammar's lines, sized without `shutil` (whose
    import pulls in bz2 and lzma)."""

    def __init__(self, prog: str) -> None:
        try:
            columns = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size().columns
        except (ValueError, OSError):
            columns = 80
        super().__init__(prog, width=columns - 2)


def _command_module(argv: Sequence[str]) -> str | None:
    """Returns the module of the command `argv` names (its first word that is not an option)."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return next((module for name, module, _ in COMMANDS if name == word), None)


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
    # paramiko imports invoke (and with it asyncio, yaml and unittest.mock: 50-90 ms of a
    # deploy's start) only to run the `Match exec` lines of an ssh_config that paramiko
    # parses. The studio never has paramiko parse one (OpenSSH resolves configs: `ssh -G`),
    # so the CLI's own process, which owns its imports, hides invoke from it.
    sys.modules.setdefault("invoke", None)  # type: ignore[arg-type]
    if argv is None and not sys.argv[1:] and sys.stdin.isatty() and sys.stdout.isatty():
        # No arguments on a terminal: the UI, before building any parser (first frame).
        from tfstudio.cli import ui_cmd

        return _guarded(ui_cmd.run, None, False)
    words = sys.argv[1:] if argv is None else argv
    parser = build_parser(words)
    args = parser.parse_args(words)
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
        import json

        print(json.dumps(exc.to_json()))
    print(f"tfstudio: error: {exc}", file=sys.stderr)
