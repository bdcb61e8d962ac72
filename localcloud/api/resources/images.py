"""Images and snapshots: distribution images (from the backend) and the snapshots droplets made."""

from __future__ import annotations

import logging

from localcloud.api import shapes
from localcloud.api.cloud import Cloud, Record, reads
from localcloud.api.request import Reply, Request, not_found, unprocessable
from localcloud.api.router import ID, Route
from localcloud.backend import BackendError

log = logging.getLogger("localcloud.api")


@reads
def images_list(cloud: Cloud, req: Request) -> Reply:
    items = sorted(cloud.state.coll("images").values(), key=lambda i: i["id"])
    if req.query.get("private") == "true":
        items = [i for i in items if not i["public"]]
    kind = req.query.get("type")
    if kind == "distribution":
        items = [i for i in items if i["type"] == "base"]
    elif kind == "application":
        items = []
    elif kind == "snapshot":  # not in the spec's enum, but DO's API and doctl accept it
        items = [i for i in items if i["type"] == "snapshot"]
    if tag := req.query.get("tag_name"):
        items = [i for i in items if tag in (i.get("tags") or [])]
    return cloud.listing(req, "images", [shapes.image_json(i) for i in items])


@reads
def images_get(cloud: Cloud, req: Request) -> Reply:
    return 200, {"image": shapes.image_json(cloud.image(req.params["image"]))}


def _delete_snapshot_image(cloud: Cloud, img: Record) -> None:
    if img["public"]:
        raise unprocessable("Public images cannot be deleted.")
    with cloud.state.lock:
        cloud.state.coll("images").pop(str(img["id"]), None)
        for d in cloud.state.coll("droplets").values():
            if img["id"] in d.get("snapshot_ids", []):
                d["snapshot_ids"].remove(img["id"])
        cloud.state.save()
    try:
        cloud.backend.delete_image(img["_ref"])
    except BackendError as e:
        log.warning("image %s: %s", img["id"], e)


def images_delete(cloud: Cloud, req: Request) -> Reply:
    ident = req.params["image"]
    if not ident.isdigit():
        raise not_found()
    _delete_snapshot_image(cloud, cloud.image(ident))
    return 204, None


@reads
def snapshots_list(cloud: Cloud, req: Request) -> Reply:
    items = [] if req.query.get("resource_type") == "volume" else [
        shapes.snapshot_json(i) for i in sorted(cloud.state.coll("images").values(), key=lambda i: i["id"])
        if i["type"] == "snapshot"]
    return cloud.listing(req, "snapshots", items)


def _snapshot(cloud: Cloud, ident: str) -> Record:
    img = cloud.state.coll("images").get(ident)
    if img is None or img["type"] != "snapshot":
        raise not_found()
    return img


@reads
def snapshots_get(cloud: Cloud, req: Request) -> Reply:
    return 200, {"snapshot": shapes.snapshot_json(_snapshot(cloud, req.params["snapshot_id"]))}


def snapshots_delete(cloud: Cloud, req: Request) -> Reply:
    _delete_snapshot_image(cloud, _snapshot(cloud, req.params["snapshot_id"]))
    return 204, None


ROUTES = [
    Route("GET", r"/v2/images", images_list),
    Route("GET", r"/v2/images/(?P<image>[^/]+)", images_get),
    Route("DELETE", r"/v2/images/(?P<image>[^/]+)", images_delete),
    Route("GET", r"/v2/snapshots", snapshots_list),
    Route("GET", r"/v2/snapshots/" + ID.format("snapshot_id"), snapshots_get),
    Route("DELETE", r"/v2/snapshots/" + ID.format("snapshot_id"), snapshots_delete),
]
