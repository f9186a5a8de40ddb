"""serve under abuse: auth before body, body and in-flight limits, backlog, JSON depth, no NaN.

Real `serve` processes and real HTTP clients (raw sockets where a well-behaved
client library would not send what an attacker sends).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from pathlib import Path

TOKEN = "t0ken-for-limits"
PREDICT = "/v1/models/default:predict"


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} missing")


def _raw_request(port: int, head: str, body_bytes: int = 0, wait_first: bool = False) -> str:
    """Sends `head` then up to `body_bytes` of body; returns the status line ('' if none)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        sock.sendall(head.encode())
        if wait_first:
            return sock.recv(4096).decode(errors="replace").split("\r\n", 1)[0]
        chunk = b"7" * (1 << 20)
        sent = 0
        try:
            while sent < body_bytes:
                sock.sendall(chunk[: min(len(chunk), body_bytes - sent)])
                sent += len(chunk)
        except OSError:
            pass  # the server refused the body and closed: that is the point
        try:
            return sock.recv(4096).decode(errors="replace").split("\r\n", 1)[0]
        except OSError:
            return ""
    finally:
        sock.close()


def test_unauthenticated_big_posts_cost_no_memory(served) -> None:
    server = served("--host", "0.0.0.0", "--token", TOKEN)
    pid = server.proc.pid
    time.sleep(0.5)
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak RSS (VmHWM)
    before = _status_kib(pid, "VmRSS")
    size = 30 * 1024 * 1024
    head = (
        f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n"
    )
    answers: list[str] = []
    threads = [
        threading.Thread(target=lambda: answers.append(_raw_request(server.port, head, size)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    grown_mib = (_status_kib(pid, "VmHWM") - before) / 1024
    assert grown_mib < 24, f"the server grew by {grown_mib:.0f} MiB for 8 posts without a token"
    assert any("401" in a for a in answers), answers
    # A client that waits for 100-continue learns of the 401 before sending a byte.
    expect = head.replace("\r\n\r\n", "\r\nExpect: 100-continue\r\n\r\n")
    assert " 401 " in _raw_request(server.port, expect, wait_first=True)
    server.token = TOKEN
    assert server.predict({"instances": [[0.0] * 64]})[0] == 200


def test_body_over_the_limit_is_413_before_it_is_read(served) -> None:
    server = served("--max-body-bytes", "2000")
    head = f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"
    started = time.monotonic()
    assert " 413 " in _raw_request(server.port, head, wait_first=True)
    assert time.monotonic() - started < 5, "answered without waiting for the body"
    assert server.predict({"instances": [[0.0] * 64]})[0] == 200  # 64 floats fit in 2000 B


def test_the_default_body_limit_is_small(served) -> None:
    server = served()
    head = f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: {64 << 20}\r\n\r\n"
    assert " 413 " in _raw_request(server.port, head, wait_first=True)


def test_requests_in_flight_are_bounded_with_503(served) -> None:
    server = served("--max-inflight", "1", "--inflight-wait", "0.2")
    body = json.dumps({"instances": [[0.0] * 64]}).encode()
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    try:
        # Headers sent, body withheld: this request holds the only slot.
        slow.sendall(
            f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        )
        time.sleep(0.3)
        code, answer = server.predict({"instances": [[0.0] * 64]})
        assert code == 503 and "busy" in answer["error"]
        slow.sendall(body)
        assert b" 200 " in slow.recv(65536).split(b"\r\n", 1)[0] + b" "
    finally:
        slow.close()
    server.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    assert server.predict({"instances": [[0.0] * 64]})[0] == 200


def test_two_hundred_parallel_clients_are_all_answered(served) -> None:
    server = served()
    barrier = threading.Barrier(200)
    codes: list[object] = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        barrier.wait()
        try:
            conn.request("POST", PREDICT, body=json.dumps({"instances": [[0.5] * 64]}))
            codes.append(conn.getresponse().status)
        except OSError as exc:
            codes.append(repr(exc))
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert codes.count(200) == 200, [c for c in codes if c != 200][:5]


def test_deeply_nested_json_is_400_not_500(served) -> None:
    server = served()
    deep = b"[" * 100_000 + b"]" * 100_000
    code, answer = server.request("POST", PREDICT, raw=deep)
    assert code == 400 and "nested" in answer["error"]
    inside = b'{"instances": ' + b"[" * 200 + b"0" + b"]" * 200 + b"}"
    code, answer = server.request("POST", PREDICT, raw=inside)
    assert code == 400 and "nested" in answer["error"]
    assert server.predict({"instances": [[0.0] * 64]})[0] == 200


def _strict(text: str) -> object:
    def refuse(name: str) -> object:
        raise AssertionError(f"{name} written into a JSON response")

    return json.loads(text, parse_constant=refuse)


def test_nan_is_never_written_into_a_response(served) -> None:
    server = served()
    server.conn.request("POST", PREDICT, body=json.dumps({"instances": [[3e38] * 64]}))
    response = server.conn.getresponse()
    text = response.read().decode()
    assert response.status == 200, text
    (row,) = _strict(text)["predictions"]
    assert None in row, "non-finite outputs are null"
    assert "NaN" not in text and "Infinity" not in text
