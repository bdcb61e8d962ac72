"""Keeping the containers away from the metadata service (user-data holds secrets)."""

from __future__ import annotations

import logging

from firstboot.job import Job
from firstboot.records import ABSENT

log = logging.getLogger("odoo-droplet")

METADATA_RULE = ("DOCKER-USER", "-d", "169.254.169.254/32", "-j", "DROP")


def block_metadata(job: Job) -> None:
    """DOCKER-USER filters what Docker forwards from containers; -C first keeps the rule single across
    runs. A failure is recorded in the proof and the deploy goes on (Docker may not have made its chain
    yet: the next call, after docker answers, tries again)."""
    agent, sec = job.agent, job.state.security
    if agent.run(("iptables", "-C", *METADATA_RULE), timeout=15).ok:
        sec.metadata_blocked = True
        return
    r = agent.run(("iptables", "-I", *METADATA_RULE), timeout=15)
    sec.metadata_blocked = r.ok
    if not r.ok:
        sec.metadata_block_error = r.stderr.strip()[:200]
        log.warning("could not block the metadata service for containers: %s", r.stderr.strip()[:200])
    else:
        sec.metadata_block_error = ABSENT
