"""The local cloud's own certificate authority and the TLS certificate its services present.

pydo refuses a bearer token over plain http, and Packer's digitalocean builder wants https too, so the
local API speaks TLS with a certificate from this CA. Clients trust it through SSL_CERT_FILE /
REQUESTS_CA_BUNDLE (`localcloud env`), local droplets through their system store. Files live under
the state folder's `ca/` (`Home.ca_dir`): ca.pem (public, hand it to clients), ca.key, server.pem, server.key (0600),
bundle.pem (the system bundle plus ca.pem, so a shell that exports it still reaches other HTTPS sites).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from localcloud.home import Home
from localcloud.network import NETWORK

SERVER_IPS = NETWORK.server_ips
SERVER_DNS = ("localhost",)
SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


@dataclass(frozen=True)
class CaFiles:
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    bundle: Path


def ca_files(home: Home | Path) -> CaFiles:
    d = Home.of(home).ca_dir
    return CaFiles(d / "ca.pem", d / "ca.key", d / "server.pem", d / "server.key", d / "bundle.pem")


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_ca(now: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "odoo-droplet local cloud CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_server_cert(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, now: dt.datetime,
    ips: tuple[str, ...] = SERVER_IPS, dns: tuple[str, ...] = SERVER_DNS,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    sans += [x509.DNSName(d) for d in dns]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ips[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        # Clients (Go's crypto/x509 included) reject server certificates valid for more than ~398 days.
        .not_valid_after(now + dt.timedelta(days=397))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _server_cert_current(files: CaFiles, now: dt.datetime) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    except (OSError, ValueError):
        return False
    return cert.not_valid_after_utc - now > dt.timedelta(days=30)


def ensure_ca(home: Home | Path) -> CaFiles:
    """Create the CA and the server certificate if missing (or the server cert is about to expire).

    Idempotent: an existing CA is kept, so clients and droplets that already trust it keep working.
    """
    files = ca_files(home)
    files.ca_cert.parent.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    if files.ca_cert.exists() and files.ca_key.exists():
        ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    else:
        ca_key, ca_cert = make_ca(now)
        _write(files.ca_key, _key_pem(ca_key), 0o600)
        _write(files.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    if not (files.server_key.exists() and _server_cert_current(files, now)):
        key, cert = make_server_cert(ca_key, ca_cert, now)
        _write(files.server_key, _key_pem(key), 0o600)
        _write(files.server_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    system = SYSTEM_BUNDLE.read_bytes() if SYSTEM_BUNDLE.exists() else b""
    bundle = system.rstrip(b"\n") + b"\n" + files.ca_cert.read_bytes() if system else files.ca_cert.read_bytes()
    if not files.bundle.exists() or files.bundle.read_bytes() != bundle:
        _write(files.bundle, bundle, 0o644)
    return files
