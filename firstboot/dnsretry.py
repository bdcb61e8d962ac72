"""The DNS outbox: an A record the cutover could not set waits here (Layout.dns_outbox, one entry: a droplet
has one deploy) and odoo-droplet-publish.timer (`python3 -m firstboot.agent publish`) tries it again every
few minutes, until the record points at the target or the entry no longer applies (a newer deploy took the
reserved IP). Each try is bounded (the API client's own retries, fewer rounds than at cutover), and its
outcome goes into `cutover.dns` of the state, status.json and deploy_status.json, uploaded to Spaces through
the upload outbox: the operator's `odoo-droplet status` then shows when the record moved.

The decisions (is it still ours to set, which record, what the proofs say) are firstboot/plans/dns.py's.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from firstboot.contract.keys import LAST_GOOD_KEY
from firstboot.core import Agent
from firstboot.doapi import DoApiError, NoApiToken
from firstboot.job import Job
from firstboot.metadata import MetadataError
from firstboot.plans.dns import dns_failed, dns_moved, fqdn, plan_dns_retry
from firstboot.proof import DEPLOY_STATUS, iso
from firstboot.spaces import SpacesError
from firstboot.state import atomic_write, load_state

log = logging.getLogger("odoo-droplet")

RETRY_ROUNDS = 3  # API rounds per timer run (the cutover's first try has DoApi's default)
RETRY_ERRORS = (DoApiError, NoApiToken, MetadataError, TimeoutError, OSError)

NONE, MOVED, WAITING, DROPPED = "none", "moved", "waiting", "dropped"


@dataclass
class DnsEntry:
    deploy_id: str
    domain: str
    name: str
    target: str
    ttl: int
    droplet_id: int
    reserved_ip: str | None  # the record follows the reserved IP while this droplet holds it
    since: str  # the first failure
    attempts: int
    last_error: str

    @property
    def record(self) -> str:
        return fqdn(self.domain, self.name)


class DnsOutbox:
    def __init__(self, path: Path) -> None:
        self.path = path

    def get(self) -> DnsEntry | None:
        try:
            data = json.loads(self.path.read_text())
            return DnsEntry(**{k: data[k] for k in DnsEntry.__dataclass_fields__})
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("DNS outbox %s unreadable (%s): dropped", self.path, e)
            self.clear()
            return None

    def put(self, entry: DnsEntry) -> None:
        atomic_write(self.path, json.dumps(asdict(entry), indent=2) + "\n")

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def last_good_deploy(agent: Agent) -> str | None:
    """The deploy state/last_good.json names, or None (no Spaces, nothing recorded, unreadable)."""
    try:
        sp = agent.spaces_factory()
        data = sp.get_json(LAST_GOOD_KEY) if sp else None
    except (SpacesError, ValueError, OSError) as e:
        log.warning("cannot read %s: %s", LAST_GOOD_KEY, e)
        return None
    found = (data or {}).get("deploy_id")
    return found if isinstance(found, str) else None


def retry_pending_dns(agent: Agent) -> str:
    """One try at the pending record: none (nothing waits), moved, waiting (failed again, kept), dropped."""
    box = DnsOutbox(agent.layout.dns_outbox)
    entry = box.get()
    if entry is None:
        return NONE
    now = iso(agent.clock.now())
    try:
        api = agent.doapi_factory()
        api.max_attempts = min(api.max_attempts, RETRY_ROUNDS)
        holder = api.holder(entry.reserved_ip) if entry.reserved_ip else None
        decision = plan_dns_retry(reserved_ip=entry.reserved_ip, holder=holder, droplet_id=entry.droplet_id,
                                  last_good_deploy=None if entry.reserved_ip else last_good_deploy(agent),
                                  deploy_id=entry.deploy_id)
        if not decision.retry:
            box.clear()
            log.warning("DNS: A %s no longer retried: %s", entry.record, decision.reason)
            outcome = dns_failed(entry.record, entry.target, f"{entry.last_error}; not retried any more: "
                                 f"{decision.reason}", at=now, attempts=entry.attempts, retrying=False,
                                 since=entry.since)
            record_outcome(agent, entry, outcome)
            return DROPPED
        res = api.upsert_a_record(entry.domain, entry.name, entry.target, entry.ttl)
    except RETRY_ERRORS as e:
        entry.attempts += 1
        entry.last_error = agent.redact(str(e))[:300]
        box.put(entry)
        log.warning("DNS: A %s -> %s failed again (attempt %d): %s", entry.record, entry.target, entry.attempts,
                    entry.last_error)
        record_outcome(agent, entry, dns_failed(entry.record, entry.target, entry.last_error, at=now,
                                                attempts=entry.attempts, retrying=True, since=entry.since))
        return WAITING
    box.clear()
    log.info("DNS: %s (after %d failed attempts since %s)", res, entry.attempts, entry.since)
    record_outcome(agent, entry, dns_moved(entry.record, entry.target, res.action, at=now,
                                           attempts=entry.attempts + 1, since=entry.since))
    return MOVED


def record_outcome(agent: Agent, entry: DnsEntry, dns: dict[str, Any]) -> None:
    """`cutover.dns` in the state, status.json and deploy_status.json (its finished_at kept), queued for Spaces."""
    from firstboot.publishing import upload_proofs

    st = load_state(agent.layout.state_json)
    if st is None or st.deploy_id != entry.deploy_id:
        return
    job = Job(agent, st)
    st.cutover.dns = dns
    finished_at = None
    try:
        finished_at = json.loads((job.proof_dir / DEPLOY_STATUS).read_text()).get("finished_at")
    except (OSError, ValueError):
        pass
    job.write_deploy_status(finished_at=finished_at)
    job.save()
    try:
        upload_proofs(job)
    except (SpacesError, OSError) as e:  # the files stay in the upload outbox
        log.warning("proofs with the DNS outcome wait in the outbox: %s", e)
