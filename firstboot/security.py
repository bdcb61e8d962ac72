"""The metadata service (it serves the user-data, secrets included) for root alone.

The snapshot's firewall (builder/assets/images/scripts/50-firewall.sh, in ufw's before.rules) installs both rules at every
boot, before cloud-init: packets to 169.254.169.254 from a process whose uid is not 0 are rejected (OUTPUT),
and so is everything Docker forwards there from a container, whatever user it runs as (DOCKER-USER). The
agent checks both at each start and adds what is missing (a snapshot made before they were baked, or a
firewall reloaded by hand without them); root itself, cloud-init and the agent, still reads the service.
"""

from __future__ import annotations

import logging

from firstboot.job import Job
from firstboot.records import ABSENT

log = logging.getLogger("odoo-droplet")

METADATA = "169.254.169.254/32"
# Containers: everything Docker forwards to the metadata service.
CONTAINER_RULE = ("-d", METADATA, "-j", "REJECT")
# Local users: any process whose uid is not root's.
LOCAL_USER_RULE = ("-d", METADATA, "-m", "owner", "!", "--uid-owner", "0", "-j", "REJECT")
# Where the snapshot's firewall keeps each rule, then the chain the agent adds it to when it is missing.
CONTAINER_CHAINS = ("DOCKER-USER",)
LOCAL_USER_CHAINS = ("ufw-before-output", "OUTPUT")
# Before these rules were baked the agent added a DROP for containers: still counted as blocked.
LEGACY_CONTAINER_RULE = ("-d", METADATA, "-j", "DROP")


def _present(job: Job, chains: tuple[str, ...], *rules: tuple[str, ...]) -> bool:
    return any(job.agent.run(("iptables", "-C", chain, *rule), timeout=15).ok for chain in chains for rule in rules)


def block_metadata(job: Job) -> None:
    """Both rules present (each added at the top of its chain when missing). A failure is recorded in the
    proof and the deploy goes on (Docker may not have made DOCKER-USER yet: the next call, after docker
    answers, tries again)."""
    agent, sec = job.agent, job.state.security
    errors: list[str] = []
    wanted = (
        (CONTAINER_CHAINS, (CONTAINER_RULE, LEGACY_CONTAINER_RULE), "containers"),
        (LOCAL_USER_CHAINS, (LOCAL_USER_RULE,), "local users"),
    )
    for chains, rules, who in wanted:
        if _present(job, chains, *rules):
            continue
        r = agent.run(("iptables", "-I", chains[-1], "1", *rules[0]), timeout=15)
        if not r.ok:
            errors.append(f"{who}: {r.stderr.strip()[:150]}")
    sec.metadata_blocked = not errors
    if errors:
        sec.metadata_block_error = "; ".join(errors)[:300]
        log.warning("could not block the metadata service for %s", "; ".join(errors)[:300])
    else:
        sec.metadata_block_error = ABSENT
