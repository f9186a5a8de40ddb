"""OpenSSH host certificates (PROTOCOL.certkeys), checked as ssh checks them.

A server may present its host key as a certificate signed by a CA. ssh accepts it
when a `@cert-authority` line for the host names that CA, the certificate is a host
certificate, it is valid now, it names the host (or HostKeyAlias) among its principals,
it carries no critical option ssh does not know, and the CA's signature verifies.
paramiko negotiates certificate host keys but checks none of this; this module does.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

HOST_CERT = 2
"""The certificate type of a host certificate (1 is a user certificate)."""


@dataclass(frozen=True)
class HostCertificate:
    """The fields of a certificate that decide whether a host may use it."""

    key_type: str
    serial: int
    cert_type: int
    key_id: str
    principals: tuple[str, ...]
    valid_after: int
    valid_before: int
    critical_options: tuple[str, ...]
    ca_blob: bytes
    signature: bytes
    signed: bytes
    """Every byte the CA signed (the certificate up to its signature)."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def string(self) -> bytes:
        size = self.uint32()
        if size > len(self.data) - self.at:
            raise ValueError("truncated certificate")
        value = self.data[self.at : self.at + size]
        self.at += size
        return value

    def uint32(self) -> int:
        value: int = struct.unpack_from(">I", self.data, self.at)[0]
        self.at += 4
        return value

    def uint64(self) -> int:
        value: int = struct.unpack_from(">Q", self.data, self.at)[0]
        self.at += 8
        return value


_KEY_FIELDS = {"ssh-ed25519": 1, "ssh-rsa": 2, "ecdsa-sha2-nistp256": 2,
               "ecdsa-sha2-nistp384": 2, "ecdsa-sha2-nistp521": 2}  # fmt: skip
"""How many strings/mpints of public key each certified key type carries."""


def parse(blob: bytes) -> HostCertificate:
    """Returns the certificate in `blob` (`...-cert-v01@openssh.com`). Raises ValueError."""
    reader = _Reader(blob)
    cert_type_name = reader.string().decode("ascii")
    base = cert_type_name.removesuffix("-cert-v01@openssh.com")
    if base == cert_type_name or base not in _KEY_FIELDS:
        raise ValueError(f"not a supported certificate type: {cert_type_name}")
    reader.string()  # nonce
    for _ in range(_KEY_FIELDS[base]):
        reader.string()
    serial = reader.uint64()
    kind = reader.uint32()
    key_id = reader.string().decode("utf-8", "replace")
    principals_reader = _Reader(reader.string())
    principals = []
    while principals_reader.at < len(principals_reader.data):
        principals.append(principals_reader.string().decode("utf-8", "replace"))
    valid_after, valid_before = reader.uint64(), reader.uint64()
    critical = _Reader(reader.string())
    options = []
    while critical.at < len(critical.data):
        options.append(critical.string().decode("utf-8", "replace"))
        critical.string()
    reader.string()  # extensions
    reader.string()  # reserved
    ca_blob = reader.string()
    signed_end = reader.at
    signature = reader.string()
    return HostCertificate(
        base, serial, kind, key_id, tuple(principals), valid_after, valid_before,
        tuple(options), ca_blob, signature, blob[:signed_end],
    )  # fmt: skip


def problem(cert: HostCertificate, principal: str, now: float | None = None) -> str | None:
    """Returns why `cert` does not let the server be `principal` now, or None when it does
    (the CA's signature is checked separately, against the trusted CA keys)."""
    moment = int(time.time() if now is None else now)
    if cert.cert_type != HOST_CERT:
        return "it is not a host certificate"
    if moment < cert.valid_after:
        return "it is not valid yet"
    if moment >= cert.valid_before:
        return "it has expired"
    if cert.critical_options:
        return f"it has critical options ({', '.join(cert.critical_options)})"
    if cert.principals and principal.lower() not in (p.lower() for p in cert.principals):
        return f"it is not for {principal} (principals: {', '.join(cert.principals)})"
    return None


def signed_by(cert: HostCertificate, ca_blob: bytes) -> bool:
    """True when the certificate names `ca_blob` as its CA and the signature verifies."""
    import paramiko

    if cert.ca_blob != ca_blob:
        return False
    try:
        key_type = _Reader(ca_blob).string().decode("ascii")
        ca = paramiko.PKey.from_type_string(key_type, ca_blob)
        return bool(ca.verify_ssh_sig(cert.signed, paramiko.Message(cert.signature)))
    except Exception:  # noqa: BLE001 - a malformed CA key or signature simply does not verify
        return False
