"""The passphrases a session holds: a key given while a connect was under way is not
asked for again when that connect reports its miss late (seen in the Jobs view under
load: the dialog came back right after the right passphrase opened the engine)."""

from __future__ import annotations

import threading

from tfstudio.config import load_config
from tfstudio.fleet.connector import Connector


def test_a_key_given_while_a_connect_was_under_way_is_not_reported_missing() -> None:
    connector = Connector(load_config())
    looked = threading.Event()
    answered = threading.Event()
    original = connector._passphrase

    def slow_lookup(path: str) -> str | None:
        # The connect has looked (nothing known yet); the user answers before it records.
        connector._local.unanswered = []
        with connector._state_lock:
            known = path in connector._known
        looked.set()
        answered.wait(10)
        if known:
            return original(path)
        with connector._state_lock:
            connector._missing.add(path)
        return None

    worker = threading.Thread(target=slow_lookup, args=("/keys/lab",))
    worker.start()
    looked.wait(10)
    connector.remember("/keys/lab", "s3cret")
    answered.set()
    worker.join(10)
    assert connector.missing_passphrases() == []


def test_a_key_nobody_gave_is_reported_once() -> None:
    connector = Connector(load_config())
    connector._local.unanswered = []
    assert connector._passphrase("/keys/lab") is None
    assert connector.missing_passphrases() == ["/keys/lab"]
    assert connector.missing_passphrases() == []
