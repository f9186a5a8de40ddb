"""What the training commands share: the `--engine` option and opening the engine.

Imports nothing heavy at module level; `docker` and `paramiko` load inside
`open_engine`, on first use.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tfstudio.training.client import EngineClient
    from tfstudio.training.engines import Engine


def add_engine_option(parser: argparse.ArgumentParser) -> None:
    """Adds `--engine NAME` (default: [training] engine, else local)."""
    parser.add_argument(
        "--engine", metavar="NAME", help="engine to use (default: [training] engine, or local)"
    )


def chosen_engine(args: argparse.Namespace) -> Engine:
    """Returns the engine named by --engine or the config. Raises EngineError, ConfigError."""
    from tfstudio.training.engines import get_engine
    from tfstudio.training.settings import training_settings

    return get_engine(getattr(args, "engine", None) or training_settings().engine)


def open_engine(engine: Engine) -> EngineClient:
    """Connects to `engine` with the config's SSH timeout, asking for key passphrases on a tty."""
    from tfstudio.config import load_config
    from tfstudio.training.client import connect

    return connect(
        engine,
        connect_timeout=load_config().connect_timeout_s,
        passphrase=_ask_passphrase,
    )


def _ask_passphrase(path: str) -> str | None:
    from tfstudio.cli.studio_cli import ask_passphrase

    return ask_passphrase(path)


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


def event_printer(quiet: bool = False) -> Any:
    """Returns an `on_event` callback that prints stages on stderr (pull progress throttled)."""
    last: dict[str, float] = {}

    def show(event: Any) -> None:
        if quiet:
            return
        if event.total:
            import time

            now = time.monotonic()
            if now - last.get("pull", 0.0) < 0.5 and event.current != event.total:
                return
            last["pull"] = now
            note(f"{event.message}: {event.current * 100 // max(1, event.total)}%")
        elif event.stage.value in ("pull", "build"):
            note(event.message)

    return show


def follow_until_end(follower: Any) -> bool:
    """Starts a LogFollower and waits for its end; returns True when Ctrl-C ended the wait.

    Ctrl-C only sets a flag here: a KeyboardInterrupt raised at an arbitrary
    point (inside threading's own locks) can leave them broken.
    """
    import signal
    import threading

    interrupted = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda _sig, _frame: interrupted.set())
    try:
        follower.start()
        while not follower.wait(0.1) and not interrupted.is_set():
            pass
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted.is_set():
        follower.stop()
        return True
    return False
