"""The agent's self-signed certificate made by the real openssl (Debian's, as on the droplet) and read back:
a leaf for TLS servers, its name in the SAN, valid at most 398 days, its key readable by root only."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from firstboot.certificate import ensure_self_signed_cert
from firstboot.config import Deploy, EdgeSpec
from firstboot.contract.layout import Layout, self_signed_paths
from firstboot.gates import CommandResult
from firstboot.probes import run_command

from .conftest import require_tool

pytestmark = pytest.mark.integration


@dataclasses.dataclass
class _Metadata:
    ip: str

    def public_ipv4(self) -> str:
        return self.ip


@dataclasses.dataclass
class _Agent:
    """What ensure_self_signed_cert touches, with the real command runner."""

    layout: Layout
    deploy: Deploy
    ip: str = "203.0.113.10"

    def metadata(self) -> _Metadata:
        return _Metadata(self.ip)

    def run(self, args: tuple[str, ...], timeout: float = 60, stdin: str | None = None) -> CommandResult:
        return run_command(args, timeout=timeout, stdin=stdin)


def _make(tmp_path, domain: str | None) -> tuple[x509.Certificate, _Agent]:
    require_tool("openssl")
    agent = _Agent(Layout(tmp_path), dataclasses.replace(Deploy(), edge=EdgeSpec(domain=domain)))
    ensure_self_signed_cert(agent)  # type: ignore[arg-type]
    crt, _ = self_signed_paths(agent.layout)
    return x509.load_pem_x509_certificate(open(crt, "rb").read()), agent


@pytest.mark.parametrize("domain", ["erp.example.com", None])
def test_openssl_makes_a_leaf_certificate(tmp_path, domain):
    cert, agent = _make(tmp_path, domain)
    ext = cert.extensions
    basic = ext.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca is False
    usage = ext.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    assert not (usage.value.key_cert_sign or usage.value.crl_sign or usage.value.key_encipherment)
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    san = ext.get_extension_for_class(x509.SubjectAlternativeName).value
    if domain:
        assert san.get_values_for_type(x509.DNSName) == [domain] and san.get_values_for_type(x509.IPAddress) == []
    else:
        assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == [agent.ip]
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=1) < lifetime <= dt.timedelta(days=398)
    assert cert.not_valid_before_utc <= dt.datetime.now(dt.UTC) < cert.not_valid_after_utc
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    _, key_path = self_signed_paths(agent.layout)
    assert os.stat(key_path).st_mode & 0o777 == 0o600


def test_a_client_that_pins_it_verifies_the_name(tmp_path):
    """The certificate as its own trust anchor: OpenSSL accepts it for the domain (a leaf needs no
    keyCertSign to be pinned) and refuses it for another name (what the live nginx test relies on)."""
    _, agent = _make(tmp_path, "erp.example.com")
    crt, _ = self_signed_paths(agent.layout)
    openssl = require_tool("openssl")
    check = subprocess.run([openssl, "verify", "-CAfile", crt, "-verify_hostname", "erp.example.com", crt],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    other = subprocess.run([openssl, "verify", "-CAfile", crt, "-verify_hostname", "evil.example", crt],
                           capture_output=True, text=True, timeout=30)
    assert other.returncode != 0
