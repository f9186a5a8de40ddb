"""The server's guard on connections: a deadline for a whole request, and room kept for
clients that showed the token.

A slowloris client opens many connections and sends each request head one byte
at a time. A timeout per `recv` never fires (every byte resets it), so here the
clock is on the request: its head must be complete within `header_timeout_s`
of its first byte, its body within `body_deadline_s(length)` of its head. A
connection waiting for its next request may idle for `idle_timeout_s`.

Capacity: a connection is *unproven* until a request head on it carries a valid
token (any head, when the server has no token). Unproven connections may fill
all but `reserved` of the connection slots; when they are at that share, the
oldest unproven connection is closed to make room for the new one. So a flood
of connections that never send a valid head cannot keep a client with the
token out: its head arrives in one packet, and it is proven at once.
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from collections import OrderedDict
from typing import Any, Optional


class DeadlineReader(io.RawIOBase):
    """A socket's input that refuses to wait past a deadline (the request's, not a recv's)."""

    def __init__(self, sock: socket.socket, idle_timeout_s: float) -> None:
        super().__init__()
        self.sock = sock
        self.idle_timeout_s = idle_timeout_s
        self.deadline: Optional[float] = None
        self._armed: Optional[float] = None

    def readable(self) -> bool:
        return True

    def arm(self, seconds: float) -> None:
        """Starts a `seconds` deadline at the next byte that arrives (a request's first)."""
        self.deadline = None
        self._armed = seconds

    def extend(self, seconds: float) -> None:
        """Sets the deadline `seconds` from now (the body, once its head is accepted)."""
        self._armed = None
        self.deadline = time.monotonic() + seconds

    def readinto(self, buffer: Any) -> int:
        timeout = self.idle_timeout_s
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("the request took longer than its deadline")
            timeout = min(timeout, left)
        self.sock.settimeout(timeout)
        got = self.sock.recv_into(buffer)
        if got and self._armed is not None:
            self.deadline = time.monotonic() + self._armed
            self._armed = None
        return got


class Connections:
    """The open connections, in accept order, and which of them are proven."""

    def __init__(self, limit: int, reserved: int) -> None:
        self.limit = limit
        self.reserved = max(0, min(reserved, limit - 1))
        self._lock = threading.Lock()
        self._unproven: OrderedDict[int, socket.socket] = OrderedDict()
        self._proven: set = set()

    @property
    def open(self) -> int:
        """Connections counted now."""
        with self._lock:
            return len(self._unproven) + len(self._proven)

    def admit(self, sock: socket.socket) -> bool:
        """Counts a new connection as unproven; returns False when the server is full of
        proven ones (the caller answers 503). Closes the oldest unproven connection when
        unproven ones hold their whole share."""
        evicted = None
        with self._lock:
            total = len(self._unproven) + len(self._proven)
            if total >= self.limit or len(self._unproven) >= self.limit - self.reserved:
                if not self._unproven:
                    return False
                _, evicted = self._unproven.popitem(last=False)
            self._unproven[id(sock)] = sock
        if evicted is not None:
            # Its thread's next read ends at once; it then leaves like any client.
            with contextlib.suppress(OSError):
                evicted.shutdown(socket.SHUT_RDWR)
        return True

    def prove(self, sock: socket.socket) -> None:
        """Marks a connection that sent a valid head: it is never closed to make room."""
        with self._lock:
            if self._unproven.pop(id(sock), None) is not None:
                self._proven.add(id(sock))

    def leave(self, sock: socket.socket) -> None:
        """Forgets a closed connection."""
        with self._lock:
            self._unproven.pop(id(sock), None)
            self._proven.discard(id(sock))
