"""What the training commands share: the `--engine` option, notes and questions on
the terminal, and Ctrl-C as a cancel token.

Imports nothing heavy: the commands reach engines through `Studio.training`.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tfstudio.operations import CancelToken


def add_engine_option(parser: argparse.ArgumentParser) -> None:
    """Adds `--engine NAME` (default: [training] engine, else local)."""
    parser.add_argument(
        "--engine", metavar="NAME", help="engine to use (default: [training] engine, or local)"
    )


def note(text: str) -> None:
    """Prints a progress or advice line on stderr (stdout stays for results and logs)."""
    print(text, file=sys.stderr, flush=True)


def confirm(question: str) -> bool:
    """Asks a yes/no question on the terminal; False without one."""
    if not sys.stdin.isatty():
        return False
    try:
        answer = input(f"{question} [y/N] ")
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr)
        return False
    return answer.strip().lower() in ("y", "yes")


@contextlib.contextmanager
def cancel_on_ctrl_c() -> Iterator[CancelToken]:
    """Yields a cancel token that Ctrl-C sets, for a wait that ends on it.

    Ctrl-C only sets the token here: a KeyboardInterrupt raised at an
    arbitrary point (inside threading's own locks) can leave them broken.
    """
    import signal

    from tfstudio.operations import CancelToken

    token = CancelToken()
    previous = signal.signal(signal.SIGINT, lambda _sig, _frame: token.cancel())
    try:
        yield token
    finally:
        signal.signal(signal.SIGINT, previous)
