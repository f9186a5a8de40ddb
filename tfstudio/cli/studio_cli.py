"""The CLI's `Studio`: the facade the TUI uses, with a terminal prompt for key passphrases.

Each command builds its own (TFSTUDIO_HOME and the config are read when it
starts); the prompt asks on the terminal only, so a script without one never
hangs on a passphrase: the encrypted key is skipped and the connection's
one-line error names it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tfstudio.studio import Studio
    from tfstudio.studio.training import Training


def ask_passphrase(path: str) -> str | None:
    """Asks for the passphrase of key `path` on the terminal; None without one."""
    if not sys.stdin.isatty():
        return None
    import getpass

    return getpass.getpass(f"passphrase for {path}: ")


def cli_studio() -> Studio:
    """Returns a Studio for this command, asking passphrases on the terminal."""
    from tfstudio.studio import Studio

    return Studio(ask_passphrase=ask_passphrase)


@contextlib.contextmanager
def cli_training() -> Iterator[Training]:
    """Yields this command's `Studio.training`; its engine connections close at the end."""
    studio = cli_studio()
    try:
        yield studio.training
    finally:
        studio.close()
