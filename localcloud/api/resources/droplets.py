"""Droplets: create (booted by a worker through the backend), list, get, delete (one or by tag),
and the snapshots taken of one."""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any

from firstboot.sizes import SIZES
from localcloud.api import shapes
from localcloud.api.cloud import Cloud, Record, Work, reads
from localcloud.api.request import ApiError, Reply, Request, unprocessable
from localcloud.api.resources.account_keys import key_record
from localcloud.api.router import DROPLET_ID, Route
from localcloud.backend import BackendError, DropletSpec

log = logging.getLogger("localcloud.api")

DROPLET_NAME = re.compile(r"^[a-zA-Z0-9]?[a-z0-9A-Z.\-]*[a-z0-9A-Z]$")
DEFAULT_REGION = "nyc3"


@reads
def droplets_list(cloud: Cloud, req: Request) -> Reply:
    items = sorted(cloud.state.coll("droplets").values(), key=lambda d: d["id"])
    if tag := req.query.get("tag_name"):
        items = [d for d in items if tag in d.get("tags", [])]
    if name := req.query.get("name"):
        items = [d for d in items if d["name"] == name]
    with cloud.state.lock:
        return cloud.listing(req, "droplets", [cloud.droplet_json(d) for d in items])


@reads
def droplets_get(cloud: Cloud, req: Request) -> Reply:
    with cloud.state.lock:
        return 200, {"droplet": cloud.droplet_json(cloud.droplet(req.params["droplet_id"]))}


def _resolve_keys(cloud: Cloud, refs: Any) -> tuple[str, ...]:
    if refs is None:
        return ()
    if not isinstance(refs, list):
        raise unprocessable("ssh_keys must be a list of key ids or fingerprints.")
    out = []
    for ref in refs:
        try:
            out.append(key_record(cloud, str(ref))["public_key"])
        except ApiError:
            raise unprocessable(f"The SSH key {ref} was not found on your account.") from None
    return tuple(out)


def droplets_create(cloud: Cloud, req: Request) -> Reply:
    body = req.obj()
    names = body.get("names") if "names" in body else [body.get("name")]
    if not isinstance(names, list) or not names or not all(
            isinstance(n, str) and DROPLET_NAME.match(n) for n in names):
        raise unprocessable("Name is invalid: only letters, digits, '.', and '-' are allowed.")
    size = body.get("size")
    if size not in SIZES:
        raise unprocessable("You specified an invalid size for Droplet creation.")
    region = body.get("region") or DEFAULT_REGION
    if region not in shapes.REGIONS:
        raise unprocessable("You specified an invalid region for Droplet creation.")
    image_ref = body.get("image")
    if not isinstance(image_ref, str | int):
        raise unprocessable("You specified an invalid image for Droplet creation.")
    try:
        image = cloud.image(str(image_ref))
    except ApiError:
        raise unprocessable("You specified an invalid image for Droplet creation.") from None
    if image["public"] is False and region not in image["regions"]:
        raise unprocessable(f"The image is not available in the region {region}.")
    user_data = body.get("user_data")
    if user_data is not None and (not isinstance(user_data, str)
                                  or len(user_data.encode()) > shapes.MAX_USER_DATA):
        raise unprocessable("user_data must be a string of at most 64 KiB.")
    tags = body.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        raise unprocessable("tags must be a list of strings.")
    public_keys = _resolve_keys(cloud, body.get("ssh_keys"))
    sz = SIZES[size]
    created = []
    with cloud.state.lock:
        for name in names:
            did = cloud.state.next_id("droplet")
            d = {"id": did, "name": name, "region": region, "size_slug": size, "image_id": image["id"],
                 "status": "new", "created_at": shapes.now_iso(), "tags": list(tags),
                 "snapshot_ids": [], "ipv4": None, "vpc_uuid": str(uuid.uuid5(uuid.NAMESPACE_DNS, region))}
            cloud.state.coll("droplets")[str(did)] = d
            action = cloud.new_action("create", "droplet", did, region)
            spec = DropletSpec(did, name, region, size, sz.vcpus, sz.memory_mb, sz.disk_gb, image["_ref"],
                               user_data, public_keys, tuple(tags))
            created.append((d, action, spec))
        cloud.state.save()
        # Rendered before any worker starts: the reply always shows status "new", as DO's does.
        links = {"actions": [{"id": a["id"], "rel": "create",
                              "href": f"{req.base_url}/v2/actions/{a['id']}"} for _, a, _ in created]}
        rendered = [cloud.droplet_json(d) for d, _, _ in created]
    for _, action, spec in created:
        cloud.run(action, _create_work(cloud, spec))
    if "names" in body:
        return 202, {"droplets": rendered, "links": links}
    return 202, {"droplet": rendered[0], "links": links}


def _create_work(cloud: Cloud, spec: DropletSpec) -> Work:
    def work() -> Callable[[], None] | None:
        try:
            rt = cloud.backend.create_droplet(spec)
        except BackendError:
            with cloud.state.lock:
                d = cloud.state.coll("droplets").get(str(spec.id))
                if d is not None:
                    d["status"] = "off"
            raise

        def apply() -> None:
            d = cloud.state.coll("droplets").get(str(spec.id))
            if d is None:  # deleted while it was being created: do not leave it running
                threading.Thread(target=_quiet_delete, args=(cloud, spec.id), daemon=True).start()
                return
            d["status"] = "active" if rt.running else "off"
            d["ipv4"] = rt.ipv4
        return apply
    return work


def _quiet_delete(cloud: Cloud, droplet_id: int) -> None:
    try:
        cloud.backend.delete_droplet(droplet_id)
    except BackendError as e:
        log.warning("cleanup of droplet %s: %s", droplet_id, e)


def _destroy(cloud: Cloud, d: Record) -> None:
    """Remove a droplet: release its reserved IPs, delete it in the backend, forget it."""
    with cloud.state.lock:
        ips = [r for r in cloud.state.coll("reserved_ips").values() if r.get("droplet_id") == d["id"]]
        for r in ips:
            r["droplet_id"] = None
        cloud.state.coll("droplets").pop(str(d["id"]), None)
        cloud.state.save()
    for r in ips:
        try:
            cloud.backend.set_reserved_ip(r["ip"], None, None)
        except BackendError as e:
            log.warning("reserved ip %s: %s", r["ip"], e)
    try:
        cloud.backend.delete_droplet(d["id"])
    except BackendError as e:
        raise ApiError(500, "server_error", f"The droplet could not be deleted: {e}") from None


def droplets_delete(cloud: Cloud, req: Request) -> Reply:
    _destroy(cloud, cloud.droplet(req.params["droplet_id"]))
    return 204, None


def droplets_delete_by_tag(cloud: Cloud, req: Request) -> Reply:
    tag = req.query.get("tag_name")
    if not tag:
        raise ApiError(400, "bad_request", "tag_name is required.")
    with cloud.state.lock:
        tagged = [d for d in cloud.state.coll("droplets").values() if tag in d.get("tags", [])]
    for d in tagged:
        _destroy(cloud, d)
    return 204, None


@reads
def droplet_snapshots_list(cloud: Cloud, req: Request) -> Reply:
    """What Packer's digitalocean builder reads to find the snapshot it just took."""
    d = cloud.droplet(req.params["droplet_id"])
    items = [{"id": i["id"], "name": i["name"], "created_at": i["created_at"], "regions": list(i["regions"]),
              "min_disk_size": int(i["min_disk_size"] or 0), "size_gigabytes": float(i["size_gigabytes"] or 0),
              "type": "snapshot"}
             for i in sorted(cloud.state.coll("images").values(), key=lambda i: i["id"])
             if i["type"] == "snapshot" and i.get("_resource_id") == d["id"]]
    return cloud.listing(req, "snapshots", items)


ROUTES = [
    Route("GET", r"/v2/droplets", droplets_list),
    Route("POST", r"/v2/droplets", droplets_create),
    Route("DELETE", r"/v2/droplets", droplets_delete_by_tag),
    Route("GET", r"/v2/droplets/" + DROPLET_ID, droplets_get),
    Route("DELETE", r"/v2/droplets/" + DROPLET_ID, droplets_delete),
    Route("GET", r"/v2/droplets/" + DROPLET_ID + "/snapshots", droplet_snapshots_list),
]
