"""paramiko's log goes to `TFSTUDIO_HOME/logs/ssh.log`, never the terminal.

paramiko logs a connection that fails during the banner as two tracebacks
(on stderr, through logging's last-resort handler, when nobody configured
logging). The studio already tells the user one line; the details belong in
a file for whoever debugs the link.
"""

from __future__ import annotations

import logging
import threading

from tfstudio.config import studio_home

LOG_NAME = "ssh.log"
_lock = threading.Lock()
_routed: dict[str, logging.Handler] = {}


def route_paramiko_logs() -> None:
    """Sends the `paramiko` logger to the log file of the current TFSTUDIO_HOME (idempotent).

    A home whose log cannot be opened silences paramiko instead: the terminal
    never gets its tracebacks.
    """
    logger = logging.getLogger("paramiko")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        path = studio_home() / "logs" / LOG_NAME
        key = str(path)
    except Exception:  # noqa: BLE001 - no home: no file, but still no terminal output
        path, key = None, ""
    with _lock:
        if key in _routed:
            return
        for old in _routed.values():
            logger.removeHandler(old)
            old.close()
        _routed.clear()
        handler: logging.Handler = logging.NullHandler()
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                handler = logging.FileHandler(path, encoding="utf-8", delay=True)
            except OSError:
                pass
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s %(thread)d: %(message)s")
        )
        logger.addHandler(handler)
        _routed[key] = handler
