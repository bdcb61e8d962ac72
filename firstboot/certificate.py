"""Certificates nginx serves: a self-signed one made at preflight, Let's Encrypt (or the ACME server
configured, pebble on the local cloud) over HTTP-01 through nginx's /.well-known/acme-challenge/.

Until certbot succeeds nginx serves the self-signed certificate. Tried at configure (works when the
name already reaches this droplet, and on the local cloud) and again right after this droplet took the
reserved IP. The decisions are firstboot/plans/certificate.py's.
"""

from __future__ import annotations

import os
from pathlib import Path

from firstboot.contract.layout import self_signed_paths
from firstboot.core import Agent
from firstboot.errors import Fatal
from firstboot.job import Job
from firstboot.metadata import MetadataError
from firstboot.nginx_site import configure_nginx
from firstboot.plans.certificate import (
    LETSENCRYPT,
    certbot_command,
    certbot_outcome,
    plan_certificate,
    self_signed_command,
)
from firstboot.records import ABSENT


def ensure_self_signed_cert(agent: Agent) -> None:
    """A leaf certificate for the domain (or, without one, the droplet's public address): see
    firstboot/plans/certificate.py `self_signed_command`."""
    crt, key = (Path(p) for p in self_signed_paths(agent.layout))
    if crt.exists() and key.exists():
        return
    agent.layout.tls_dir.mkdir(parents=True, exist_ok=True)
    domain = agent.deploy.edge.domain
    r = agent.run(self_signed_command(domain, None if domain else _public_ipv4(agent), str(key), str(crt)),
                  timeout=60)
    if not r.ok:
        raise Fatal(f"openssl could not make a self-signed certificate: {r.stderr.strip()[:200]}")
    if key.exists():
        os.chmod(key, 0o600)


def _public_ipv4(agent: Agent) -> str | None:
    """The droplet's public address for the certificate's SAN; none when the metadata cannot say."""
    try:
        return agent.metadata().public_ipv4()
    except (MetadataError, OSError, ValueError):
        return None


def have_letsencrypt(agent: Agent) -> bool:
    domain = agent.deploy.edge.domain
    return bool(domain) and (agent.layout.letsencrypt_live / str(domain) / "fullchain.pem").exists()


def ensure_certificate(job: Job, when: str) -> None:
    agent, sec = job.agent, job.state.security
    plan = plan_certificate(agent.deploy, user_data=job.state.user_data, have_certificate=have_letsencrypt(agent))
    if not plan.request:
        if plan.record is not None and not (plan.keep_recorded and sec.certificate is not ABSENT):
            sec.certificate = plan.record
        return
    r = agent.run(certbot_command(agent.deploy, str(agent.layout.acme_webroot)), timeout=300)
    sec.certificate = certbot_outcome(ok=r.ok, have_certificate=have_letsencrypt(agent), when=when,
                                      output=r.stderr or r.stdout, returncode=r.returncode)
    if sec.certificate == LETSENCRYPT:
        configure_nginx(agent, agent.tag_deploy(job.state.attempts[-1].tag))
