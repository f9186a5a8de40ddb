"""serve under hostile and heavy traffic: slowloris, memory per request, non-finite inputs.

Real `serve` processes, real sockets; the server's own peak RSS is read from
/proc (VmHWM, reset through clear_refs) as the benchmark does.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.agent.test_server_limits import PREDICT, TOKEN, _status_kib

MIB = 1024 * 1024


def _trickle(port: int, count: int, stop: threading.Event, opened: threading.Event) -> list:
    """Opens `count` connections that send a request head one byte at a time (every 0.5 s)
    and never finish it, as slowloris does; returns the sockets still open at the end."""
    head = b"POST /v1/models/default:predict HTTP/1.1\r\nHost: x\r\n" + b"X-a: b\r\n" * 1000
    socks = []
    for _ in range(count):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            break
    opened.set()
    sent = 0
    while not stop.is_set() and socks:
        for sock in list(socks):
            try:
                sock.send(head[sent : sent + 1])
            except OSError:
                socks.remove(sock)  # closed by the server: open another, as an attacker would
                try:
                    socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
                except OSError:
                    pass
        sent += 1
        stop.wait(0.5)
    return socks


def test_slowloris_without_a_token_cannot_starve_clients_with_one(served) -> None:
    server = served("--host", "0.0.0.0", "--token", TOKEN)
    stop, opened = threading.Event(), threading.Event()
    attack = threading.Thread(target=_trickle, args=(server.port, 530, stop, opened), daemon=True)
    attack.start()
    try:
        assert opened.wait(60)
        time.sleep(2.0)  # every connection has sent a few bytes: the server is as full as it gets
        codes = []
        for _ in range(6):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            try:
                conn.request(
                    "POST",
                    PREDICT,
                    body=json.dumps({"instances": [[0.0] * 64]}),
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
                codes.append(conn.getresponse().status)
            except OSError as exc:
                codes.append(repr(exc))
            finally:
                conn.close()
            time.sleep(0.5)
        assert codes == [200] * 6, codes
    finally:
        stop.set()
        attack.join(timeout=30)


def test_a_request_head_sent_byte_by_byte_is_cut_off(served) -> None:
    """The limit is on the whole head, not the time between two bytes."""
    server = served()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    started = time.monotonic()
    closed_after = None
    try:
        for byte in b"GET /v1/models/default HTTP/1.1\r\nHost: x\r\n" + b"X-a: b\r\n" * 100:
            if time.monotonic() - started > 40:
                break
            sock.send(bytes([byte]))
            ready, _, _ = select.select([sock], [], [], 0.5)
            if ready:
                closed_after = time.monotonic() - started
                break
    except OSError:
        closed_after = time.monotonic() - started
    finally:
        sock.close()
    assert closed_after is not None, "the server read a trickled head for 40 s"
    assert closed_after < 25, f"cut off only after {closed_after:.0f} s"


def _maximal_body(limit: int, cell: str) -> bytes:
    row = "[" + ",".join([cell] * 64) + "]"
    n = (limit - 40) // (len(row) + 1)
    return ('{"instances": [' + ",".join([row] * n) + "]}").encode()


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["0", "1.5"])
def test_eight_maximal_requests_stay_within_the_memory_bound(served, cell) -> None:
    """max_inflight x max_body is the documented bound: 8 concurrent 4 MiB predicts
    may cost at most 4x their bodies (the model is loaded before the baseline)."""
    server = served()
    body = _maximal_body(4 * MIB, cell)
    assert server.predict({"instances": [[0.0] * 64]})[0] == 200
    pid = server.proc.pid
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    before = _status_kib(pid, "VmRSS")
    answers: list = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
        try:
            conn.request("POST", PREDICT, body=body)
            response = conn.getresponse()
            answers.append((response.status, len(response.read())))
        except OSError as exc:
            answers.append(repr(exc))
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    grown = (_status_kib(pid, "VmHWM") - before) * 1024
    assert [a[0] for a in answers if isinstance(a, tuple)] == [200] * 8, answers
    assert grown <= 8 * 4 * len(body), (
        f"grew by {grown / MIB:.0f} MiB for 8 x {len(body) / MIB:.1f} MiB"
    )


@pytest.mark.parametrize(
    "raw",
    [
        b'{"instances": [[NaN' + b", 0" * 63 + b"]]}",
        b'{"instances": [[Infinity' + b", 0" * 63 + b"]]}",
        b'{"instances": [[-Infinity' + b", 0" * 63 + b"]]}",
        b'{"instances": [[1e400' + b", 0" * 63 + b"]]}",
        b'{"inputs": [[0' + b", 0" * 62 + b", NaN]]}",
    ],
)
def test_non_finite_inputs_are_refused(served, raw) -> None:
    server = served()
    code, answer = server.request("POST", PREDICT, raw=raw)
    assert code == 400, answer
    assert "finite" in answer["error"], answer
    assert "\n" not in answer["error"]
