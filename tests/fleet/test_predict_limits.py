"""`tfstudio predict` within the server's limits: too big, not finite, out of range, and 413.

A real loopback sshd device serving the float MLP (the `served` fixture of the
telemetry tests), and a real `serve` with a small body limit for the raw
tunnel client.
"""

from __future__ import annotations

import json
import resource
import time

import numpy as np
import pytest

from tfstudio.cli import main
from tfstudio.cli.deploy_cmd import connector
from tfstudio.fleet.service import endpoint
from tfstudio.tunnel.channel import LoopbackHTTP


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Warning" not in captured.err and "Traceback" not in captured.err
    return lines[0]


@pytest.mark.slow
def test_an_input_past_the_servers_limit_is_refused_before_it_is_sent(
    served, tmp_path, capsys
) -> None:
    x = tmp_path / "big.npy"
    np.save(x, np.random.default_rng(0).random((60_000, 64), dtype=np.float32))  # ~45 MB of JSON
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    assert main(["predict", "tele", "--input", str(x)]) == 1
    line = _one_line_error(capsys)
    assert "takes at most 4.0 MiB" in line and "60000 instances" in line, line
    assert "fit in one request" in line, line
    assert time.monotonic() - started < 30
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 100, f"the studio grew by {grown_mib:.0f} MiB to refuse it"
    # What fits is sent, and answered.
    np.save(x, np.random.default_rng(0).random((2_000, 64), dtype=np.float32))
    assert main(["predict", "tele", "--input", str(x), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["instances"] == 2000


@pytest.mark.parametrize(
    ("values", "said"),
    [
        (np.array([[np.nan] + [0.0] * 63], np.float32), "holds NaN at [0, 0]"),
        (np.array([[0.0] * 63 + [np.inf]], np.float64), "holds Infinity at [0, 63]"),
        (np.array([[1e300] * 64], np.float64), "past float32's range"),
    ],
)
def test_inputs_the_model_cannot_take_are_refused_in_one_line(
    served, tmp_path, capsys, values, said
) -> None:
    x = tmp_path / "x.npy"
    np.save(x, values)
    with _no_warnings():
        assert main(["predict", "tele", "--input", str(x)]) == 1
    line = _one_line_error(capsys)
    assert said in line, line


class _no_warnings:
    """Fails when numpy warns (a raw RuntimeWarning is no message for a user)."""

    def __enter__(self) -> None:
        import warnings

        self._catch = warnings.catch_warnings(record=True)
        self._seen = self._catch.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc: object) -> None:
        self._catch.__exit__(*exc)
        assert not self._seen, [str(w.message) for w in self._seen]


def test_the_servers_413_comes_back_through_the_tunnel(served) -> None:
    """A body sent anyway (an agent that does not say its limit) gets the server's 413,
    not "Socket is closed" from the SSH channel the server stopped reading."""
    device, _ = served
    with connector()(device) as transport:
        found = endpoint(device, transport)
        assert found.max_body_bytes == 4 * 1024 * 1024
        http = LoopbackHTTP(transport, found.port, found.token, timeout=60)
        try:
            body = json.dumps({"instances": [[0.5] * 64] * 160_000}).encode()  # ~51 MB
            answer = http.request("POST", "/v1/models/default:predict", body)
        finally:
            http.close()
    assert answer.status == 413, answer
    assert "at most 4194304" in answer.json()["error"]
