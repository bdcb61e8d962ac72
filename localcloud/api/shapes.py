"""Pure functions that render the local cloud's records in DigitalOcean's API v2 shapes.

Shapes follow reference/do-openapi (the tests validate every response against it): a droplet carries its
size, region and image objects; list responses carry `links.pages` and `meta.total`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import math
from typing import Any
from urllib.parse import urlencode

from firstboot.sizes import SIZES, Size
from localcloud.network import NETWORK

# Slugs from the spec's image `regions` enum, so every rendered image validates.
REGIONS: dict[str, str] = {
    "nyc1": "New York 1", "nyc3": "New York 3", "ams3": "Amsterdam 3", "fra1": "Frankfurt 1",
    "lon1": "London 1", "sfo3": "San Francisco 3", "sgp1": "Singapore 1", "tor1": "Toronto 1",
    "blr1": "Bangalore 1", "syd1": "Sydney 1",
}
REGION_FEATURES = ["backups", "ipv6", "metadata", "install_agent", "storage", "image_transfer"]
NETMASK = "255.255.255.0"
MAX_USER_DATA = 64 * 1024
HOURS_PER_MONTH = 672


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def region_json(slug: str) -> dict[str, Any]:
    return {
        "name": REGIONS.get(slug, slug),
        "slug": slug,
        "features": list(REGION_FEATURES),
        "available": slug in REGIONS,
        "sizes": list(SIZES),
    }


def size_json(size: Size) -> dict[str, Any]:
    return {
        "slug": size.slug,
        "memory": size.memory_mb,
        "vcpus": size.vcpus,
        "disk": size.disk_gb,
        # DO's basic plans include about 1 TB of transfer per GB of memory.
        "transfer": float(max(0.5, size.memory_mb / 1024)),
        "price_monthly": float(size.price_monthly),
        "price_hourly": round(size.price_monthly / HOURS_PER_MONTH, 5),
        "regions": list(REGIONS),
        "available": True,
        "description": size.description,
        "disk_info": [{"type": "local", "size": {"amount": size.disk_gb, "unit": "gib"}}],
    }


def image_json(img: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in img.items() if not k.startswith("_")}


def snapshot_json(img: dict[str, Any]) -> dict[str, Any]:
    """An image of type snapshot seen through /v2/snapshots (its id is a string there)."""
    return {
        "id": str(img["id"]),
        "name": img["name"],
        "created_at": img["created_at"],
        "regions": list(img["regions"]),
        "min_disk_size": int(img["min_disk_size"] or 0),
        "size_gigabytes": float(img["size_gigabytes"] or 0),
        "resource_id": str(img.get("_resource_id", "")),
        "resource_type": "droplet",
        "tags": list(img.get("tags") or []),
    }


def droplet_json(d: dict[str, Any], image: dict[str, Any] | None, locked: bool) -> dict[str, Any]:
    size = SIZES[d["size_slug"]]
    v4 = []
    if d.get("ipv4"):
        v4.append({"ip_address": d["ipv4"], "netmask": NETMASK, "gateway": NETWORK.gateway, "type": "public"})
    return {
        "id": d["id"],
        "name": d["name"],
        "memory": size.memory_mb,
        "vcpus": size.vcpus,
        "disk": size.disk_gb,
        "disk_info": [{"type": "local", "size": {"amount": size.disk_gb, "unit": "gib"}}],
        "locked": locked,
        "status": d["status"],
        "kernel": None,
        "created_at": d["created_at"],
        "features": ["droplet_agent", "private_networking"],
        "backup_ids": [],
        "next_backup_window": None,
        "snapshot_ids": list(d.get("snapshot_ids", [])),
        "image": image_json(image) if image else {},
        "volume_ids": [],
        "size": size_json(size),
        "size_slug": size.slug,
        "networks": {"v4": v4, "v6": []},
        "region": region_json(d["region"]),
        "tags": list(d.get("tags", [])),
        "vpc_uuid": d.get("vpc_uuid", ""),
    }


def action_json(a: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": a["id"],
        "status": a["status"],
        "type": a["type"],
        "started_at": a["started_at"],
        "completed_at": a.get("completed_at"),
        "resource_id": a.get("resource_id"),
        "resource_type": a["resource_type"],
        "region": region_json(a["region_slug"]) if a.get("region_slug") else None,
        "region_slug": a.get("region_slug"),
    }


def reserved_ip_json(r: dict[str, Any], droplet: dict[str, Any] | None, locked: bool) -> dict[str, Any]:
    return {
        "ip": r["ip"],
        "region": region_json(r["region"]),
        "droplet": droplet,
        "locked": locked,
        "project_id": r["project_id"],
    }


def record_json(r: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "type", "name", "data", "priority", "port", "ttl", "weight", "flags", "tag")
    return {k: r.get(k) for k in keys}


def zone_file(domain: str, ttl: int, records: list[dict[str, Any]]) -> str:
    lines = [f"$ORIGIN {domain}.", f"$TTL {ttl}",
             f"{domain}. IN SOA ns1.digitalocean.com. hostmaster.{domain}. 1 10800 3600 604800 1800"]
    for r in records:
        name = f"{domain}." if r["name"] == "@" else f"{r['name']}.{domain}."
        prio = f"{r['priority']} " if r.get("priority") is not None else ""
        lines.append(f"{name} {r['ttl']} IN {r['type']} {prio}{r['data']}")
    return "\n".join(lines) + "\n"


def ssh_fingerprint(public_key: str) -> str | None:
    """MD5 fingerprint (colon hex) as DigitalOcean shows it; None if the key does not parse."""
    parts = public_key.strip().split()
    if len(parts) < 2 or parts[0] not in (
        "ssh-rsa", "ssh-dss", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"
    ):
        return None
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError:
        return None
    if not blob.startswith(len(parts[0]).to_bytes(4, "big") + parts[0].encode()):
        return None
    digest = hashlib.md5(blob).hexdigest()  # noqa: S324 - the fingerprint format DO uses
    return ":".join(digest[i : i + 2] for i in range(0, 32, 2))


def paginate(
    items: list[Any], page: int, per_page: int, base_url: str, path: str, query: dict[str, str]
) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
    """The page's items, `links` (pages: first/prev/next/last as DO gives them) and `meta`."""
    total = len(items)
    last = max(1, math.ceil(total / per_page))
    chunk = items[(page - 1) * per_page : page * per_page]

    def url(p: int) -> str:
        q = {k: v for k, v in query.items() if k not in ("page", "per_page")}
        q.update({"page": str(p), "per_page": str(per_page)})
        return f"{base_url}{path}?{urlencode(q)}"

    pages: dict[str, str] = {}
    if page > 1:
        pages["first"] = url(1)
        pages["prev"] = url(min(page - 1, last))
    if page < last:
        pages["next"] = url(page + 1)
        pages["last"] = url(last)
    return chunk, {"pages": pages}, {"total": total}
