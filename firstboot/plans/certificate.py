"""Which certificate nginx serves, and whether to ask Let's Encrypt (or the configured ACME server)."""

from __future__ import annotations

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
