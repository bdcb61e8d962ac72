"""Domains and their records (DNS is not served: the zone is state the builder reads and writes)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from localcloud.api import shapes
from localcloud.api.cloud import Cloud, Record, reads
from localcloud.api.request import Reply, Request, not_found, unprocessable
from localcloud.api.router import ID, Route

DOMAIN_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
RECORD_TYPES = ("A", "AAAA", "CAA", "CNAME", "MX", "NS", "SOA", "SRV", "TXT")
DOMAIN = r"(?P<domain>[A-Za-z0-9.\-]+)"
RECORD_ID = ID.format("record_id")


def _domain(cloud: Cloud, name: str) -> Record:
    d = cloud.state.coll("domains").get(name.lower())
    if d is None:
        raise not_found()
    return d


def _records(cloud: Cloud, domain: str) -> list[Record]:
    return sorted((r for r in cloud.state.coll("records").values() if r["_domain"] == domain),
                  key=lambda r: r["id"])


def _domain_json(cloud: Cloud, d: Record) -> Record:
    return {"name": d["name"], "ttl": d["ttl"],
            "zone_file": shapes.zone_file(d["name"], d["ttl"], _records(cloud, d["name"]))}


@reads
def domains_list(cloud: Cloud, req: Request) -> Reply:
    with cloud.state.lock:
        items = [_domain_json(cloud, d) for d in sorted(cloud.state.coll("domains").values(),
                                                      key=lambda d: d["name"])]
    return cloud.listing(req, "domains", items)


@reads
def domains_get(cloud: Cloud, req: Request) -> Reply:
    with cloud.state.lock:
        return 200, {"domain": _domain_json(cloud, _domain(cloud, req.params["domain"]))}


def domains_create(cloud: Cloud, req: Request) -> Reply:
    body = req.obj()
    name = str(body.get("name") or "").lower().rstrip(".")
    if not DOMAIN_NAME.match(name):
        raise unprocessable("Name is not a valid domain name.")
    ip = body.get("ip_address")
    if ip is not None:
        _check_data("A", ip)
    with cloud.state.lock:
        if name in cloud.state.coll("domains"):
            raise unprocessable("Name already exists.")
        d = {"name": name, "ttl": 1800}
        cloud.state.coll("domains")[name] = d
        for ns in ("ns1", "ns2", "ns3"):
            _add_record(cloud, name, {"type": "NS", "name": "@", "data": f"{ns}.digitalocean.com", "ttl": 1800})
        if ip is not None:
            _add_record(cloud, name, {"type": "A", "name": "@", "data": ip, "ttl": 1800})
        cloud.state.save()
        return 201, {"domain": _domain_json(cloud, d)}


def domains_delete(cloud: Cloud, req: Request) -> Reply:
    with cloud.state.lock:
        d = _domain(cloud, req.params["domain"])
        for r in _records(cloud, d["name"]):
            del cloud.state.coll("records")[str(r["id"])]
        del cloud.state.coll("domains")[d["name"]]
        cloud.state.save()
    return 204, None


def _check_data(rtype: str, data: Any) -> None:
    if not isinstance(data, str) or not data:
        raise unprocessable("Data needs to be a non-empty string.")
    if rtype in ("A", "AAAA"):
        try:
            addr = ipaddress.ip_address(data)
        except ValueError:
            raise unprocessable(f"Data needs to be a valid IP address for an {rtype} record.") from None
        if (rtype == "A") != (addr.version == 4):
            raise unprocessable(f"Data is not a valid {rtype} record address.")


def _relative(name: str, domain: str) -> str:
    name = name.rstrip(".").lower() if name != "@" else name
    if name == domain:
        return "@"
    if name.endswith("." + domain):
        return name[: -len(domain) - 1]
    return name


def _add_record(cloud: Cloud, domain: str, fields: Record) -> Record:
    rid = cloud.state.next_id("record")
    r = {"id": rid, "type": fields["type"], "name": _relative(fields.get("name") or "@", domain),
         "data": fields.get("data"), "priority": fields.get("priority"), "port": fields.get("port"),
         "ttl": int(fields.get("ttl") or 1800), "weight": fields.get("weight"), "flags": fields.get("flags"),
         "tag": fields.get("tag"), "_domain": domain}
    cloud.state.coll("records")[str(rid)] = r
    return r


@reads
def records_list(cloud: Cloud, req: Request) -> Reply:
    d = _domain(cloud, req.params["domain"])
    items = _records(cloud, d["name"])
    if name := req.query.get("name"):  # the FQDN, as DigitalOcean filters it
        fq = name.rstrip(".").lower()
        items = [r for r in items if (d["name"] if r["name"] == "@" else f"{r['name']}.{d['name']}") == fq]
    if rtype := req.query.get("type"):
        items = [r for r in items if r["type"] == rtype]
    return cloud.listing(req, "domain_records", [shapes.record_json(r) for r in items])


def _validate_record(cloud: Cloud, fields: Record) -> None:
    rtype = fields.get("type")
    if rtype not in RECORD_TYPES or rtype == "SOA":
        raise unprocessable(f"Type must be one of {', '.join(t for t in RECORD_TYPES if t != 'SOA')}.")
    if not isinstance(fields.get("name"), str) or not fields["name"]:
        raise unprocessable("Name needs to be a non-empty string.")
    _check_data(rtype, fields.get("data"))
    if fields.get("ttl") is not None and (not isinstance(fields["ttl"], int) or fields["ttl"] < 30):
        raise unprocessable("TTL must be an integer of at least 30 seconds.")
    if rtype in ("MX", "SRV") and not isinstance(fields.get("priority"), int):
        raise unprocessable("Priority is required for MX and SRV records.")


def records_create(cloud: Cloud, req: Request) -> Reply:
    body = req.obj()
    with cloud.state.lock:
        d = _domain(cloud, req.params["domain"])
        _validate_record(cloud, body)
        r = _add_record(cloud, d["name"], body)
        cloud.state.save()
    return 201, {"domain_record": shapes.record_json(r)}


def _record(cloud: Cloud, req: Request) -> Record:
    d = _domain(cloud, req.params["domain"])
    r = cloud.state.coll("records").get(req.params["record_id"])
    if r is None or r["_domain"] != d["name"]:
        raise not_found()
    return r


@reads
def records_get(cloud: Cloud, req: Request) -> Reply:
    return 200, {"domain_record": shapes.record_json(_record(cloud, req))}


def records_update(cloud: Cloud, req: Request) -> Reply:
    body = req.obj()
    with cloud.state.lock:
        r = _record(cloud, req)
        merged = {**r, **{k: v for k, v in body.items() if k != "id"}}
        _validate_record(cloud, merged)
        merged["name"] = _relative(merged["name"], r["_domain"])
        r.update({k: merged[k] for k in ("type", "name", "data", "priority", "port", "ttl", "weight",
                                          "flags", "tag")})
        cloud.state.save()
    return 200, {"domain_record": shapes.record_json(r)}


def records_delete(cloud: Cloud, req: Request) -> Reply:
    with cloud.state.lock:
        r = _record(cloud, req)
        del cloud.state.coll("records")[str(r["id"])]
        cloud.state.save()
    return 204, None


ROUTES = [
    Route("GET", r"/v2/domains", domains_list),
    Route("POST", r"/v2/domains", domains_create),
    Route("GET", r"/v2/domains/" + DOMAIN, domains_get),
    Route("DELETE", r"/v2/domains/" + DOMAIN, domains_delete),
    Route("GET", r"/v2/domains/" + DOMAIN + "/records", records_list),
    Route("POST", r"/v2/domains/" + DOMAIN + "/records", records_create),
    Route("GET", r"/v2/domains/" + DOMAIN + "/records/" + RECORD_ID, records_get),
    Route("PATCH", r"/v2/domains/" + DOMAIN + "/records/" + RECORD_ID, records_update),
    Route("PUT", r"/v2/domains/" + DOMAIN + "/records/" + RECORD_ID, records_update),
    Route("DELETE", r"/v2/domains/" + DOMAIN + "/records/" + RECORD_ID, records_delete),
]
