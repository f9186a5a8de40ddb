"""What listens where on this machine, read from /proc/net/tcp{,6} (no `ss` needed)."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

LISTEN = "0A"


def _address(hex_addr: str) -> str:
    if len(hex_addr) == 8:
        return socket.inet_ntop(socket.AF_INET, struct.pack("<I", int(hex_addr, 16)))
    words = [struct.pack("<I", int(hex_addr[i : i + 8], 16)) for i in range(0, 32, 8)]
    return socket.inet_ntop(socket.AF_INET6, b"".join(words))


def listening_addresses(port: int) -> list[str]:
    """Returns the local addresses with a socket listening on TCP `port`."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            addr, port_hex = local.split(":")
            if state == LISTEN and int(port_hex, 16) == port:
                found.append(_address(addr))
    return found
