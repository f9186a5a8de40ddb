"""Certificates for TLS engines in tests, made with `cryptography` (a paramiko dependency).

`CertAuthority` is a CA that issues a server certificate for 127.0.0.1 and
localhost, and client certificates whose common name says which one a client
presented. `write_docker_dir` lays files out as the docker CLI expects them in
DOCKER_CERT_PATH or ~/.docker: `ca.pem`, `cert.pem`, `key.pem`.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, PEM-encoded."""

    cert: bytes
    key: bytes

    def write(self, cert_path: Path, key_path: Path) -> None:
        """Writes the certificate and the key (mode 600)."""
        cert_path.write_bytes(self.cert)
        key_path.write_bytes(self.key)
        key_path.chmod(0o600)


class CertAuthority:
    """A throw-away CA valid for a day."""

    def __init__(self, name: str = "tfstudio test CA") -> None:
        self.name = name
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._now = datetime.datetime.now(datetime.timezone.utc)
        builder = self._builder(name, self._key).add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        )
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        self.cert_pem = builder.sign(self._key, hashes.SHA256()).public_bytes(
            serialization.Encoding.PEM
        )

    def _builder(self, cn: str, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(_name(self.name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._now - datetime.timedelta(hours=1))
            .not_valid_after(self._now + datetime.timedelta(days=1))
        )

    def _issue(self, cn: str, usage: x509.ObjectIdentifier, *extra: x509.ExtensionType) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = self._builder(cn, key).add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        )
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        for ext in extra:
            builder = builder.add_extension(ext, critical=False)
        cert = builder.sign(self._key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
        return Issued(cert, _key_pem(key))

    def server(self) -> Issued:
        """A server certificate for 127.0.0.1 and localhost."""
        names = x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        )
        return self._issue("tfstudio test engine", ExtendedKeyUsageOID.SERVER_AUTH, names)

    def client(self, cn: str) -> Issued:
        """A client certificate with common name `cn`."""
        return self._issue(cn, ExtendedKeyUsageOID.CLIENT_AUTH)

    def write_ca(self, path: Path) -> Path:
        """Writes the CA certificate at `path` and returns it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.cert_pem)
        return path


def write_docker_dir(
    folder: Path,
    ca: CertAuthority | None,
    client: Issued | None,
    *,
    cert: bool = True,
    key: bool = True,
) -> Path:
    """Writes ca.pem (when `ca`), cert.pem and key.pem (when `client`, each unless
    turned off) into `folder`, as in DOCKER_CERT_PATH; returns `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    if ca is not None:
        ca.write_ca(folder / "ca.pem")
    if client is not None and cert:
        (folder / "cert.pem").write_bytes(client.cert)
    if client is not None and key:
        (folder / "key.pem").write_bytes(client.key)
        (folder / "key.pem").chmod(0o600)
    return folder
