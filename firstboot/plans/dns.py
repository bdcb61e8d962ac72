"""The DNS A record at cutover, as pure decisions: how long to wait before asking the API again, which
record to create or update, what the proofs say (`cutover.dns`), and whether a retry from the outbox
still applies. firstboot/doapi.py carries them out, firstboot/dnsretry.py keeps retrying after a failure.

`cutover.dns` is null when the settings name no DNS record, else one of:

    {"status": "moved",  "record": FQDN, "target": IP, "action": created|updated|unchanged, "at": TIME, "attempts": N}
    {"status": "failed", "record": FQDN, "target": IP, "reason": WHY, "at": TIME, "attempts": N, "retrying": BOOL,
     "since": TIME of the first failure}

`at` is when the record was seen pointing at the target (moved) or the last failed attempt (failed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

RETRY_STATUSES = (429, 500, 502, 503, 504)
NO_ANSWER = 0  # the transport's status for a connection error or a timeout

MOVED, FAILED = "moved", "failed"


def retry_wait(status: int, retry_after: str | None, attempt: int, *, max_wait: float = 60.0) -> float | None:
    """Seconds to wait before asking again, or None when the answer is final (a success, or an error that
    asking again does not change: 401, 403, 404, 422...). 429 and 5xx honour `retry-after` when the API
    sends one (seconds), else back off exponentially from 0.5 s; no answer at all backs off the same way."""
    if status != NO_ANSWER and status not in RETRY_STATUSES:
        return None
    if retry_after is not None:
        try:
            return min(max_wait, max(0.0, float(retry_after)))
        except ValueError:
            pass
    return min(max_wait, 0.5 * 2**attempt)


def fqdn(domain: str, name: str) -> str:
    return domain if name in ("@", "", domain) else f"{name}.{domain}"


@dataclass(frozen=True)
class RecordChange:
    """What to ask of the API so that `record` is one A answer pointing at `ip`: create one (none exists),
    update the ones that point elsewhere (or have another TTL), or nothing."""

    action: Literal["create", "update", "none"]
    record: str  # the FQDN
    ip: str
    update_ids: tuple[int, ...] = ()
    body: Mapping[str, Any] | None = None


def plan_a_record(records: Iterable[Mapping[str, Any]], *, domain: str, name: str, ip: str,
                  ttl: int) -> RecordChange:
    """`records`: what the API listed for the name (it may list others too: only A records of this name count).
    Every A record of the name is pointed at `ip`, so no stale address keeps a share of the answers."""
    full = fqdn(domain, name)
    relative = "@" if full == domain else full[: -len(domain) - 1]
    mine = [r for r in records if r.get("type") == "A" and r.get("name") in (relative, full, name)]
    body = {"type": "A", "name": relative, "data": ip, "ttl": ttl}
    if not mine:
        return RecordChange("create", full, ip, body=body)
    stale = tuple(int(r["id"]) for r in mine if r.get("data") != ip or r.get("ttl") not in (None, ttl))
    if not stale:
        return RecordChange("none", full, ip)
    return RecordChange("update", full, ip, update_ids=stale, body=body)


PAST_TENSE = {"create": "created", "update": "updated", "none": "unchanged"}


def dns_moved(record: str, ip: str, action: str, *, at: str, attempts: int,
              since: str | None = None) -> dict[str, Any]:
    """The record points at `ip` (seen at `at`). `since`: when it first failed, for a record a retry moved."""
    doc: dict[str, Any] = {"status": MOVED, "record": record, "target": ip,
                           "action": PAST_TENSE.get(action, action), "at": at, "attempts": attempts}
    if since:
        doc["since"] = since
    return doc


def dns_failed(record: str, ip: str, reason: str, *, at: str, attempts: int, retrying: bool,
               since: str | None = None) -> dict[str, Any]:
    return {"status": FAILED, "record": record, "target": ip, "reason": reason, "at": at, "attempts": attempts,
            "retrying": retrying, "since": since or at}


def dns_is_moved(dns: Any) -> bool:
    return isinstance(dns, Mapping) and dns.get("status") == MOVED


def dns_line(dns: Any) -> str:
    """One line for the operator (`droplet`'s summary, `status`)."""
    if not isinstance(dns, Mapping):
        return "not configured" if dns is None else str(dns)
    where = f"{dns.get('record')} -> {dns.get('target')}"
    if dns.get("status") == MOVED:
        return f"{where} ({dns.get('action', 'moved')} at {dns.get('at')})"
    retry = ("; the droplet retries every 5 minutes (odoo-droplet-publish.timer) until it points there"
             if dns.get("retrying") else "")
    return f"FAILED: {where} not set ({dns.get('reason')}; {dns.get('attempts')} attempts){retry}"


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    reason: str = ""


def plan_dns_retry(*, reserved_ip: str | None, holder: int | None, droplet_id: int,
                   last_good_deploy: str | None, deploy_id: str) -> RetryDecision:
    """Whether a record that failed at cutover is still this droplet's to set. With a reserved IP: while this
    droplet holds it (a newer deploy that took it sets the record itself). Without one (the record names this
    droplet's own address): while state/last_good.json still names this deploy (None: unknown, go on)."""
    if reserved_ip is not None:
        if holder != droplet_id:
            return RetryDecision(False, f"the reserved IP {reserved_ip} is now on droplet {holder}: "
                                        "that deploy sets the record")
        return RetryDecision(True)
    if last_good_deploy is not None and last_good_deploy != deploy_id:
        return RetryDecision(False, f"a later deploy ({last_good_deploy}) took over: it sets the record")
    return RetryDecision(True)
