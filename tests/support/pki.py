"""A throwaway test CA: TLS for registries, gRPC servers and webhooks, and JWT signing certs.

Everything is written as PEM files because every consumer (docker-registry, skopeo, grpc, httpx,
ssl) wants paths. Keys are EC P-256: fast to generate and accepted by Go, OpenSSL and BoringSSL.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")
# Backdate certificates so small clock differences between processes never matter.
_BACKDATE = datetime.timedelta(hours=1)


@dataclass(frozen=True)
class CA:
    """A test CA: its certificate and key (objects and PEM paths)."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_path: Path  # PEM; hand this to clients as their trust root (ca_file, rootcertbundle)
    key_path: Path
    trust_dir: Path  # a directory holding only `ca.crt`, for skopeo/containers `--*-cert-dir`

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class IssuedCert:
    """A leaf certificate signed by a test CA, with the paths a server or client needs."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_path: Path  # PEM, leaf only
    key_path: Path  # PEM, PKCS#8, unencrypted
    ca_path: Path  # PEM of the issuing CA

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return _key_pem(self.key)

    @property
    def ca_pem(self) -> bytes:
        return self.ca_path.read_bytes()


def make_ca(directory: Path, *, common_name: str = "imagepin test CA", days: int = 7) -> CA:
    """Create a self-signed CA in `directory` (ca.pem, ca.key, trust/ca.crt)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
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
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "ca.pem"
    key_path = directory / "ca.key"
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path.write_bytes(cert_pem)
    _write_private(key_path, _key_pem(key))
    trust_dir = directory / "trust"
    trust_dir.mkdir(exist_ok=True)
    (trust_dir / "ca.crt").write_bytes(cert_pem)
    return CA(cert=cert, key=key, cert_path=cert_path, key_path=key_path, trust_dir=trust_dir)


def issue_server_cert(
    ca: CA,
    directory: Path,
    hosts: Iterable[str] = DEFAULT_HOSTS,
    *,
    name: str = "server",
    days: int = 7,
) -> IssuedCert:
    """Issue a TLS server certificate for `hosts` (IP SANs for addresses, DNS SANs otherwise)."""
    return issue_cert(ca, directory, hosts=hosts, name=name, days=days, server=True)


def issue_client_cert(
    ca: CA, directory: Path, common_name: str, *, name: str = "client", days: int = 7
) -> IssuedCert:
    """Issue a TLS client certificate (for mutual TLS), identified by `common_name`."""
    return issue_cert(
        ca, directory, hosts=(), common_name=common_name, name=name, days=days, client=True
    )


def issue_cert(
    ca: CA,
    directory: Path,
    *,
    hosts: Iterable[str] = (),
    common_name: str | None = None,
    name: str = "leaf",
    days: int = 7,
    server: bool = False,
    client: bool = False,
) -> IssuedCert:
    """Issue a leaf certificate; writes `<name>.pem` and `<name>.key` into `directory`.

    With neither `server` nor `client` the certificate carries no extended key usage, which suits
    signing (e.g. JWTs whose `x5c` chain a verifier checks against the CA).
    """
    directory.mkdir(parents=True, exist_ok=True)
    host_list = list(hosts)
    key = ec.generate_private_key(ec.SECP256R1())
    cn = common_name or (host_list[0] if host_list else name)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if host_list:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_san(h) for h in host_list]), critical=False
        )
    cert = builder.sign(ca.key, hashes.SHA256())
    cert_path = directory / f"{name}.pem"
    key_path = directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(key_path, _key_pem(key))
    return IssuedCert(
        cert=cert, key=key, cert_path=cert_path, key_path=key_path, ca_path=ca.cert_path
    )


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
