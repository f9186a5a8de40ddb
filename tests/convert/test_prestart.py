"""A conversion child started ahead of time (`prestart`, as the demo does while it trains):
the next conversion adopts it, a dead one is replaced, an unused one is ended."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tfstudio.convert import convert, supervisor
from tfstudio.convert.job import ConvertOptions
from tfstudio.models.source import probe_source

# Every test here starts a conversion child: the full tier (tests/plugins/tiers.py).
pytestmark = pytest.mark.usefixtures("tensorflow_child")


def _spare_pid() -> int:
    [(proc, _conn, _log)] = supervisor._SPARE
    return proc.pid


def _gone(pid: int, within: float = 30.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_the_next_conversion_adopts_the_prestarted_child(mlp) -> None:
    supervisor.prestart()
    pid = _spare_pid()
    info = probe_source(mlp.h5)
    with supervisor.ConversionWorker(info, None, None, ConvertOptions()) as worker:
        worker.prepare()
        assert worker.pid == pid
    assert supervisor._SPARE == [] and _gone(pid)


def test_a_prestarted_child_that_died_is_replaced(mlp, tmp_path) -> None:
    supervisor.prestart()
    pid = _spare_pid()
    os.killpg(pid, signal.SIGKILL)
    result = convert(mlp.h5, tmp_path, "float32")
    assert [v.mode for v in result.variants] == ["float32"]
    assert supervisor._SPARE == []


def test_an_unused_prestarted_child_is_ended() -> None:
    supervisor.prestart()
    pid = _spare_pid()
    supervisor.discard_prestarted()
    assert supervisor._SPARE == [] and _gone(pid)
