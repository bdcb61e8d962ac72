"""cutover: take the reserved IP (and the DNS record) when the gates passed, then record the last good
deploy. The decisions are firstboot/plans/cutover.py's; this gathers the facts they need (this
droplet, the reserved IP and who holds it) and carries the plan out.

An API, metadata or Spaces failure is recorded in the cutover record and ends the step: traffic stays
where it was, the proofs say why. The DNS record is the exception once the reserved IP moved: its failure
is `cutover.dns` {"status": "failed"} and an entry in the DNS outbox (firstboot/dnsretry.py), retried by
the publish timer until the record points at the reserved IP.
"""

from __future__ import annotations

import logging
from typing import Any

from firstboot.certificate import ensure_certificate
from firstboot.contract.keys import LAST_GOOD_KEY
from firstboot.core import Agent
from firstboot.dnsretry import DnsEntry, DnsOutbox
from firstboot.doapi import DoApi, DoApiError, NoApiToken
from firstboot.errors import StepFailed
from firstboot.job import Job
from firstboot.metadata import MetadataError
from firstboot.phases import Step
from firstboot.plans.cutover import plan_cutover, plan_cutover_start, records_last_good
from firstboot.plans.dns import dns_failed, dns_moved, fqdn
from firstboot.proof import iso
from firstboot.publishing import record_last_good, recorded_reserved_ip
from firstboot.records import CutoverRecord
from firstboot.spaces import SpacesError

log = logging.getLogger("odoo-droplet")

# What a cutover can run into: the DO API (or no token for it), the metadata service, Spaces (the
# recorded reserved IP, last_good.json), a wait that timed out, the network or the disk, and nginx
# refusing the site with the new certificate.
CUTOVER_ERRORS = (DoApiError, NoApiToken, MetadataError, SpacesError, TimeoutError, OSError, StepFailed)
# What the A record's update can run into after the API's own retries: recorded, and retried from the outbox.
DNS_ERRORS = (DoApiError, TimeoutError, OSError)


def run(job: Job, step: Step) -> None:
    agent, st = job.agent, job.state
    rec = CutoverRecord(reserved_ip=None, assigned=False, dns=None, reason="")
    start = plan_cutover_start(status=st.status, user_data=st.user_data,
                               reserved_ip_wanted=agent.deploy.reserved_ip.mode != "none",
                               dns_wanted=agent.deploy.dns is not None)
    if not start.lookup:
        rec.reason = start.reason
        if start.record_last_good:
            record_last_good(job, None, None)
            rec.last_good = LAST_GOOD_KEY if agent.spaces_factory() else None
        merge(job, rec)
        return
    try:
        move_traffic(job, rec)
    except CUTOVER_ERRORS as e:
        rec.error = agent.redact(str(e))[:500]
        rec.add_reason(f"cutover error: {rec.error}")
        log.error("cutover: %s", rec.error)
    merge(job, rec)


def move_traffic(job: Job, rec: CutoverRecord) -> None:
    agent, st = job.agent, job.state
    droplet_id = agent.metadata().droplet_id()
    rec.droplet_id = droplet_id
    ip = reserved_ip_address(agent)
    rec.reserved_ip = ip
    api = agent.doapi_factory()
    holder = api.holder(ip) if ip else None
    rec.holder_before = holder
    plan = plan_cutover(status=st.status, user_data=True, reserved_ip=ip, holder=holder, droplet_id=droplet_id,
                        dns_wanted=agent.deploy.dns is not None, has_letsencrypt=st.security.has_letsencrypt)
    rec.reason = plan.reason
    if plan.assign_ip and ip:
        res = api.assign_reserved_ip(ip, droplet_id)
        rec.assigned, rec.assign_posts, rec.action_id, rec.assign_log = True, res.posts, res.action_id, res.log
        if plan.retry_certificate:
            ensure_certificate(job, "cutover")
    elif ip and plan.held:
        rec.assigned = True
    dns = agent.deploy.dns
    if plan.set_dns and dns:
        target = ip if (ip and rec.assigned) else agent.metadata().public_ipv4()
        rec.dns = set_dns_record(job, api, target, reserved_ip=ip if rec.assigned else None, droplet_id=droplet_id)
    if records_last_good(plan, status=st.status, reserved_ip=ip):
        record_last_good(job, droplet_id, ip)
        rec.last_good = LAST_GOOD_KEY


def set_dns_record(job: Job, api: DoApi, target: str, *, reserved_ip: str | None, droplet_id: int) -> dict[str, Any]:
    """The A record to `target`, with the API client's bounded retries. A failure does not undo the reserved
    IP nor stop the cutover (last_good is still recorded): it is written as `cutover.dns` failed and queued
    in the DNS outbox, which odoo-droplet-publish.timer retries until the record points at `target`."""
    agent = job.agent
    dns = agent.deploy.dns
    assert dns is not None
    record = fqdn(dns.domain, dns.record)
    try:
        res = api.upsert_a_record(dns.domain, dns.record, target, dns.ttl)
    except DNS_ERRORS as e:
        reason = agent.redact(str(e))[:300]
        log.error("DNS: A %s -> %s failed: %s; queued for retry", record, target, reason)
        now = iso(agent.clock.now())
        DnsOutbox(agent.layout.dns_outbox).put(DnsEntry(
            deploy_id=job.state.deploy_id, domain=dns.domain, name=dns.record, target=target, ttl=dns.ttl,
            droplet_id=droplet_id, reserved_ip=reserved_ip, since=now, attempts=1, last_error=reason))
        return dns_failed(record, target, reason, at=now, attempts=1, retrying=True)
    log.info("DNS: %s", res)
    return dns_moved(record, target, res.action, at=iso(agent.clock.now()), attempts=res.attempts)


def reserved_ip_address(agent: Agent) -> str | None:
    spec = agent.deploy.reserved_ip
    if spec.mode == "none":
        return None
    if spec.address:
        return spec.address
    return recorded_reserved_ip(agent)  # mode auto: the builder created it and recorded it in Spaces


def merge(job: Job, rec: CutoverRecord) -> None:
    """This run's findings over what publish recorded before (the proofs' destination)."""
    rec.proofs = job.state.cutover.proofs
    job.state.cutover = rec
