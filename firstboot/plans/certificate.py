"""Which certificate nginx serves, and whether to ask Let's Encrypt (or the configured ACME server)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from firstboot.config import Deploy

SELF_SIGNED = "self-signed"
LETSENCRYPT = "letsencrypt"


@dataclass(frozen=True)
class CertificatePlan:
    request: bool  # run certbot
    record: str | None  # what to record without running it
    keep_recorded: bool = False  # record only when nothing is recorded yet


def plan_certificate(deploy: Deploy, *, user_data: bool, have_certificate: bool) -> CertificatePlan:
    """Only with user-data (the name must point here) and tls letsencrypt with a domain; a certificate
    already on disk is used as it is (certbot's timer renews it)."""
    edge = deploy.edge
    if edge.tls != LETSENCRYPT or not edge.domain or not user_data:
        return CertificatePlan(False, SELF_SIGNED, keep_recorded=True)
    if have_certificate:
        return CertificatePlan(False, LETSENCRYPT)
    return CertificatePlan(True, None)


def certbot_outcome(*, ok: bool, have_certificate: bool, when: str, output: str, returncode: int) -> str:
    """What to record after certbot ran. A failure is recorded, not fatal: the gates probe our own
    nginx and do not verify certificates."""
    if ok and have_certificate:
        return LETSENCRYPT
    lines = output.strip().splitlines()
    return f"{SELF_SIGNED} (certbot at {when} failed: {lines[-1][:200] if lines else returncode})"


def certbot_command(deploy: Deploy, webroot: str) -> tuple[str, ...]:
    edge = deploy.edge
    if not edge.domain:
        raise ValueError("certbot needs edge.domain")
    args = ["certbot", "certonly", "--non-interactive", "--agree-tos", "--keep-until-expiring",
            "--webroot", "-w", webroot, "-d", edge.domain,
            # Renewals (Debian's certbot.timer) must reload nginx to serve the new certificate.
            "--deploy-hook", "systemctl reload nginx"]
    args += ["--email", edge.email] if edge.email else ["--register-unsafely-without-email"]
    if edge.acme_server:
        args += ["--server", edge.acme_server]
    return tuple(args)


# The self-signed certificate nginx serves until Let's Encrypt has issued one (or for good, on a droplet
# with no domain). A leaf, as a server certificate must be: not a CA, for TLS servers only, its names in
# the SAN (what clients check; the CN is only a label), valid no longer than publicly trusted ones may
# be (398 days, CA/Browser Forum; Mozilla's "intermediate" profile says 366). ECDSA P-256: Mozilla's
# recommended certificate type, served with the ECDHE-ECDSA suites of the edge's cipher list.
SELF_SIGNED_DAYS = 365
SELF_SIGNED_EXTENSIONS = (
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature",
    "extendedKeyUsage=serverAuth",
)
_DNS_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


def self_signed_names(domain: str | None, ip: str | None) -> tuple[str, str]:
    """(common name, subjectAltName) for the droplet's self-signed certificate: its domain, else its
    public address, else `localhost` (an address that is not one is ignored)."""
    if domain:
        if not _DNS_NAME.match(domain):
            raise ValueError(f"not a host name for a certificate: {domain!r}")
        return domain, f"DNS:{domain}"
    if ip:
        try:
            address = str(ipaddress.ip_address(ip.strip()))
        except ValueError:
            address = ""
        if address:
            return address, f"IP:{address}"
    return "localhost", "DNS:localhost"


def self_signed_command(domain: str | None, ip: str | None, key_path: str, cert_path: str,
                        days: int = SELF_SIGNED_DAYS) -> tuple[str, ...]:
    """The openssl command that makes the key and the certificate (no secret in it: the key is
    written to `key_path`, never passed)."""
    if not 1 <= days <= 398:
        raise ValueError(f"a server certificate is valid 1 to 398 days, not {days}")
    cn, san = self_signed_names(domain, ip)
    extensions = [arg for ext in (*SELF_SIGNED_EXTENSIONS, f"subjectAltName={san}") for arg in ("-addext", ext)]
    return ("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-sha256", "-days", str(days), "-subj", f"/CN={cn}", *extensions,
            "-keyout", key_path, "-out", cert_path)
