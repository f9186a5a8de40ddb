"""A TLS-only front for a Docker Engine on loopback, that records what each client sent.

`TlsFront` listens on 127.0.0.1 and looks at the first byte of every
connection before anything else: a TLS ClientHello starts with 0x16; anything
else is plain text, recorded with its first line (`GET /v1.41/version ...`) and
closed unanswered, as a TLS-only dockerd would. A TLS connection is handshaken
with Python's `ssl` as the server (the test CA's server certificate), asking
for a client certificate: `require_client_cert=True` refuses a client without
one signed by the CA (dockerd `--tlsverify`); with False the certificate is
optional and only recorded. Then either
- `backend` (a unix socket path, e.g. /var/run/docker.sock): bytes are pumped
  both ways, so the client talks to the real engine through TLS (attach and
  log streams included), or
- no backend: the request gets `503` and the connection is closed (a probe that
  shows how a client connects: plain or TLS, which certificate, verified or not).

Every connection is an `Event` in `events`. `close()` stops the listener and
every connection it opened.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PLAIN = "plain"
TLS = "tls"
TLS_FAILED = "tls-failed"


@dataclass(frozen=True)
class Event:
    """One connection: `kind` (plain, tls, tls-failed), the client certificate's CN
    (TLS), the first line sent in plain text, or why the handshake failed."""

    kind: str
    client_cn: str | None = None
    detail: str = ""


class TlsFront:
    """See the module docstring. Use as a context manager."""

    def __init__(
        self,
        server_cert: Path,
        server_key: Path,
        client_ca: Path,
        *,
        backend: str | None = None,
        require_client_cert: bool = True,
    ) -> None:
        self.backend = backend
        self.events: list[Event] = []
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self._ctx.load_cert_chain(str(server_cert), str(server_key))
        self._ctx.load_verify_locations(str(client_ca))
        self._ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._active = 0
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="tls-front", daemon=True)
        self._acceptor.start()

    @property
    def url(self) -> str:
        """`tcp://127.0.0.1:PORT`."""
        return f"tcp://127.0.0.1:{self.port}"

    def kinds(self) -> set[str]:
        """The kinds of connection seen so far."""
        with self._lock:
            return {e.kind for e in self.events}

    def settle(self, timeout: float = 10.0) -> None:
        """Waits until no connection is waiting or being handled (events are complete)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                busy = self._active > 0
            if not busy and not select.select([self._listener], [], [], 0)[0]:
                return
            time.sleep(0.02)
        raise TimeoutError("the TLS front is still busy")

    def clear(self) -> None:
        """Forgets the events seen so far."""
        with self._lock:
            self.events.clear()

    def close(self) -> None:
        """Stops listening and closes every connection; waits for the threads."""
        self._stop.set()
        self._acceptor.join(timeout=5)
        self._listener.close()
        with self._lock:
            for sock in list(self._open):
                with contextlib.suppress(OSError):
                    sock.close()
        for thread in list(self._threads):
            thread.join(timeout=5)

    def __enter__(self) -> TlsFront:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inside ----------------------------------------------------------

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self._active += 1
                self._open.add(conn)
                self._threads.append(thread)
            thread.start()

    def _record(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._handle(conn)
        finally:
            with self._lock:
                self._active -= 1

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            first = conn.recv(1, socket.MSG_PEEK)
        except OSError:
            first = b""
        if not first:
            self._forget(conn)
            return
        if first != b"\x16":
            try:
                line = conn.recv(256).split(b"\r\n", 1)[0].decode("latin-1")
            except OSError:
                line = ""
            self._record(Event(PLAIN, detail=line))
            self._forget(conn)
            return
        try:
            tls = self._ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self._record(Event(TLS_FAILED, detail=str(exc)))
            self._forget(conn)
            return
        with self._lock:
            self._open.add(tls)
        peer = tls.getpeercert() or {}
        cn = next(
            (value for rdn in peer.get("subject", ()) for key, value in rdn if key == "commonName"),
            None,
        )
        self._record(Event(TLS, client_cn=cn))
        try:
            if self.backend is None:
                self._answer_503(tls)
            else:
                self._pump(tls)
        finally:
            self._forget(tls)
            self._forget(conn)

    def _answer_503(self, tls: ssl.SSLSocket) -> None:
        with contextlib.suppress(OSError):
            tls.recv(4096)
            tls.sendall(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                b"Connection: close\r\n\r\n"
            )

    def _pump(self, tls: ssl.SSLSocket) -> None:
        """Copies bytes both ways in one thread (an SSL socket must not be read and
        written from two threads at once)."""
        back = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with self._lock:
            self._open.add(back)
        try:
            back.connect(str(self.backend))
            while not self._stop.is_set():
                if tls.pending():
                    ready = [tls]
                else:
                    ready, _, _ = select.select([tls, back], [], [], 0.5)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (back if sock is tls else tls).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            self._forget(back)

    def _forget(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.close()
        with self._lock:
            self._open.discard(sock)
