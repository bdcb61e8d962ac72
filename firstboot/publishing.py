"""What the agent puts in Spaces, always through the outbox (firstboot/spaces.py): the proofs of a
deploy, state/last_good.json, the droplet's SSH host keys (state/hostkeys/<id>.json), and the live status.json the operator's CLI follows. Reading the last
good tag and the reserved IP the builder recorded lives here too: the same bucket, the same keys
(firstboot/contract/keys.py)."""

from __future__ import annotations

import json
import logging
from typing import Any

from firstboot.contract.hostkeys import HostKeyError, host_keys_document
from firstboot.contract.keys import LAST_GOOD_KEY, RESERVED_IP_KEY, host_keys_key, proof_key
from firstboot.core import Agent
from firstboot.job import Job
from firstboot.metadata import MetadataError
from firstboot.proof import STATUS, iso
from firstboot.records import ABSENT
from firstboot.spaces import Outbox, SpacesError
from firstboot.state import atomic_write

log = logging.getLogger("odoo-droplet")

NO_SPACES = "kept on the droplet only (no Spaces configured)"


def drain_outbox(agent: Agent) -> tuple[list[str], list[str]]:
    sp = agent.spaces_factory()
    if sp is None:
        return [], []
    done, errors = Outbox(agent.layout.outbox).drain(sp)
    if errors:
        log.warning("Spaces: %d uploads wait in the outbox for odoo-droplet-publish.timer: %s",
                    len(errors), errors[0])
    return done, errors


def upload_proofs(job: Job) -> tuple[list[str], list[str]]:
    """Every file of the deploy's proof folder under proofs/<deploy_id>/."""
    agent, st = job.agent, job.state
    if agent.spaces_factory() is None:
        if st.cutover.proofs is ABSENT:
            st.cutover.proofs = NO_SPACES
        return [], []
    outbox = Outbox(agent.layout.outbox)
    for path in sorted(job.proof_dir.rglob("*")):
        if path.is_file():
            outbox.add_file(proof_key(st.deploy_id, str(path.relative_to(job.proof_dir))), path)
    return drain_outbox(agent)


def publish_host_keys(agent: Agent) -> dict[str, Any] | None:
    """The droplet's SSH host keys (made by cloud-init for this droplet) as the document the operator's CLI pins
    (firstboot/contract/hostkeys.py): written to Layout.host_keys_json — all a droplet without Spaces keeps —
    and queued in the outbox for state/hostkeys/<droplet_id>.json, so an outage only delays it. Never fails
    the deploy (the site does not need SSH): what is missing is logged. Returns the document, or None."""
    files = agent.layout.ssh_host_keys
    if not files:
        log.warning("no SSH host keys under /etc/ssh: nothing to publish (the operator cannot pin this droplet)")
        return None
    try:
        droplet_id = agent.metadata().droplet_id()
    except (MetadataError, ValueError) as e:
        log.warning("SSH host keys not published: no droplet id from the metadata service (%s)", e)
        return None
    try:
        doc = host_keys_document(droplet_id, [p.read_text() for p in files], iso(agent.clock.now()))
    except (HostKeyError, OSError) as e:
        log.warning("SSH host keys not published: %s", e)
        return None
    atomic_write(agent.layout.host_keys_json, json.dumps(doc, indent=2) + "\n", 0o644)
    log.info("SSH host keys: %s", ", ".join(f"{k['type']} {k['fingerprint']}" for k in doc["keys"]))
    if agent.spaces_factory() is None:
        log.info("SSH host keys %s", NO_SPACES)
        return doc
    Outbox(agent.layout.outbox).add_file(host_keys_key(droplet_id), agent.layout.host_keys_json)
    drain_outbox(agent)
    return doc


def last_good_document(job: Job, droplet_id: int | None, ip: str | None) -> dict[str, Any]:
    agent, st = job.agent, job.state
    att = st.attempts[-1]
    image = agent.image_ref(att.tag)
    return {"tag": att.tag, "image": image, "digest": st.images.get(image),
            "deploy_id": st.deploy_id, "droplet_id": droplet_id, "reserved_ip": ip,
            "status": st.status, "at": iso(agent.clock.now()), "git_sha": agent.deploy.build.git_sha,
            "ship_version": agent.deploy.ship_version}


def record_last_good(job: Job, droplet_id: int | None, ip: str | None) -> None:
    doc = last_good_document(job, droplet_id, ip)
    if job.agent.spaces_factory() is None:
        return
    Outbox(job.agent.layout.outbox).add_content(LAST_GOOD_KEY, json.dumps(doc, indent=2) + "\n")
    drain_outbox(job.agent)


def last_good_tag(agent: Agent) -> str | None:
    """The tag of the last successful cutover, or None (no Spaces, nothing recorded, or unreadable)."""
    try:
        sp = agent.spaces_factory()
        if sp is None:
            return None
        data = sp.get_json(LAST_GOOD_KEY)
    except (SpacesError, ValueError, OSError) as e:
        log.warning("cannot read %s: %s", LAST_GOOD_KEY, e)
        return None
    tag = (data or {}).get("tag")
    return tag if isinstance(tag, str) else None


def recorded_reserved_ip(agent: Agent) -> str | None:
    """mode auto: the builder created the reserved IP and recorded it in Spaces."""
    sp = agent.spaces_factory()
    data = sp.get_json(RESERVED_IP_KEY) if sp else None
    ip = (data or {}).get("ip") or (data or {}).get("reserved_ip")
    return ip if isinstance(ip, str) else None


class LiveStatus:
    """status.json to Spaces for the operator's live view: one quick try, no outbox (the final one goes
    through the outbox); after two failures in a row this run stops trying."""

    def __init__(self) -> None:
        self.failures = 0

    def upload(self, job: Job) -> None:
        if self.failures >= 2:
            return
        sp = job.agent.spaces_factory()
        if sp is None:
            return
        sp.attempts, sp.timeout = 1, 5.0
        path = job.proof_dir / STATUS
        try:
            sp.put(proof_key(job.state.deploy_id, STATUS), path.read_bytes(), "application/json")
            self.failures = 0
        except (SpacesError, OSError) as e:
            self.failures += 1
            log.warning("live status upload failed: %s", e)
