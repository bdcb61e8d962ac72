"""The DNS zone before anything is created (`droplet`, `check-config --online`): the zone named by `dns.domain`
exists in the account's DigitalOcean DNS and the token that will write the A record (the droplet's:
DROPLET_TOKEN, else DIGITALOCEAN_TOKEN) can read it and update its record. Otherwise `Refused` (exit 2),
naming the zone and the missing scope: the droplet would come up healthy, take the reserved IP and then
fail to move the name.

`zone_refusal` decides (pure); `check_dns_zone` asks the API. The probe of the write is a no-op update of the
record when it exists (the same data: DigitalOcean checks the scope, nothing changes); when it does not exist
yet there is nothing to update without creating it, so the first deploy creates it (domain:create).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from builder.doclient import ApiError, Cloud
from builder.errors import Refused
from firstboot.config import DnsSpec
from firstboot.plans.dns import fqdn

SCOPES_HINT = ("make the token with custom scopes domain:read and domain:update (and domain:create while the "
               "record does not exist yet): control panel, API, Generate New Token, Custom Scopes")


def zone_refusal(zone: str, status: int | None, *, token: str, doing: str) -> Refused | None:
    """What the operator must fix when reading or updating the zone answered `status`; None: not a refusal
    of the zone or the token (a 429 or 5xx after the client's retries stays an API error, exit 1)."""
    where = f"the DNS zone {zone} (dns.domain)"
    if status == 404:
        return Refused(f"{where} does not exist in this DigitalOcean account's DNS; nothing was created",
                       f"add it first (control panel: Networking, Domains; or `doctl compute domain create {zone}`),"
                       " or leave `dns` out of the settings", details={"zone": zone, "missing": "zone"})
    if status == 401:
        return Refused(f"{token} was refused (401) {doing} {where}; nothing was created",
                       f"check {token}", details={"zone": zone, "missing": "token"})
    if status == 403:
        scope = "domain:update" if doing.startswith("updating") else "domain:read"
        return Refused(f"{token} lacks the `domain` scope ({scope}): 403 {doing} {where}; nothing was created",
                       SCOPES_HINT, details={"zone": zone, "missing": scope})
    return None


def _a_records(body: Mapping[str, Any], dns: DnsSpec) -> list[dict[str, Any]]:
    full = fqdn(dns.domain, dns.record)
    names = {dns.record, full, "@" if full == dns.domain else full[: -len(dns.domain) - 1]}
    return [r for r in body.get("domain_records", []) if r.get("type") == "A" and r.get("name") in names]


def check_dns_zone(cloud: Cloud, dns: DnsSpec, *, writer: Cloud | None = None,
                   writer_token: str = "DIGITALOCEAN_TOKEN") -> str:
    """Raise `Refused` when the zone is missing or a token cannot use it; else what was checked (one line).
    `cloud`: the operator's token; `writer`: the droplet's when it gets another one."""
    zone = dns.domain
    try:
        cloud.call(f"DNS zone {zone}", cloud.client.domains.get, zone)
    except ApiError as err:
        raise zone_refusal(zone, err.status, token="DIGITALOCEAN_TOKEN", doing="reading") or err from None
    w = writer or cloud
    doing = "reading"
    try:
        if writer is not None:
            w.call(f"DNS zone {zone} with {writer_token}", w.client.domains.get, zone)
        body = w.call(f"A records of {fqdn(zone, dns.record)}", w.client.domains.list_records, zone, type="A",
                      name=fqdn(zone, dns.record), per_page=200)
        found = _a_records(body, dns)
        if not found:
            return (f"DNS zone {zone}: readable with {writer_token}; {fqdn(zone, dns.record)} has no A record yet "
                    "(the first cutover creates it: domain:create)")
        doing = "updating the A record of"
        record = found[0]
        w.call(f"no-op update of A {fqdn(zone, dns.record)}", w.client.domains.patch_record, zone, record["id"],
               body={"type": "A", "data": record.get("data")})
    except ApiError as err:
        raise zone_refusal(zone, err.status, token=writer_token, doing=doing) or err from None
    return f"DNS zone {zone}: {writer_token} reads it and may update {fqdn(zone, dns.record)}"
