"""Tags: created ones and those given to droplets at create time, and tagging resources."""

from __future__ import annotations

import re

from localcloud.api import shapes
from localcloud.api.cloud import Cloud, Record, reads
from localcloud.api.request import Reply, Request, not_found, unprocessable
from localcloud.api.router import Route

TAG_NAME = re.compile(r"^[a-zA-Z0-9_\-:]{1,255}$")
# What /v2/tags/{name}/resources tags here: the resource types the project uses (DO also has volumes,
# volume snapshots and databases, which the local cloud does not have).
TAG_RESOURCE_TYPES = {"droplet": ("droplets", "droplets"), "image": ("images", "images")}
TAG = r"(?P<tag>[A-Za-z0-9_:\-]+)"


def _tag_names(cloud: Cloud) -> list[str]:
    """Tags the account has: created ones and those put on droplets at create time (DO creates a
    droplet's tags on the fly)."""
    names = set(cloud.state.coll("tags"))
    for coll in ("droplets", "images"):
        for item in cloud.state.coll(coll).values():
            names.update(item.get("tags") or [])
    return sorted(names)


def _tagged(cloud: Cloud, name: str, coll: str) -> list[Record]:
    return sorted((i for i in cloud.state.coll(coll).values() if name in (i.get("tags") or [])),
                  key=lambda i: i["id"])


def _tag_json(cloud: Cloud, name: str, base_url: str) -> Record:
    last = (cloud.state.coll("tags").get(name) or {}).get("_last", {})
    resources: Record = {"count": 0}
    for coll, key in TAG_RESOURCE_TYPES.values():
        items = _tagged(cloud, name, coll)
        entry: Record = {"count": len(items)}
        # The last tagged one when it was tagged here; else (tags given at droplet create) the newest.
        uri = last.get(key) or (f"{base_url}/v2/{coll}/{items[-1]['id']}" if items else None)
        if items and uri:
            entry["last_tagged_uri"] = uri
        resources[key] = entry
        resources["count"] += len(items)
    for key in ("volumes", "volume_snapshots", "databases"):
        resources[key] = {"count": 0}
    if last.get("any") and resources["count"]:
        resources["last_tagged_uri"] = last["any"]
    return {"name": name, "resources": resources}


def _tag_name(cloud: Cloud, req: Request) -> str:
    name = req.params["tag"]
    if name not in _tag_names(cloud, ):
        raise not_found()
    return name


@reads
def tags_list(cloud: Cloud, req: Request) -> Reply:
    return cloud.listing(req, "tags", [_tag_json(cloud, n, req.base_url) for n in _tag_names(cloud, )])


@reads
def tags_get(cloud: Cloud, req: Request) -> Reply:
    return 200, {"tag": _tag_json(cloud, _tag_name(cloud, req), req.base_url)}


def tags_create(cloud: Cloud, req: Request) -> Reply:
    name = req.obj().get("name")
    if not isinstance(name, str) or not TAG_NAME.match(name):
        raise unprocessable("name must be 1 to 255 letters, numbers, colons, dashes or underscores.")
    with cloud.state.lock:
        # Idempotent as on DigitalOcean: creating an existing tag answers 201 with it.
        cloud.state.coll("tags").setdefault(name, {"name": name, "created_at": shapes.now_iso()})
        cloud.state.save()
        return 201, {"tag": _tag_json(cloud, name, req.base_url)}


def tags_delete(cloud: Cloud, req: Request) -> Reply:
    with cloud.state.lock:
        name = _tag_name(cloud, req)
        for coll in ("droplets", "images"):
            for item in _tagged(cloud, name, coll):
                item["tags"].remove(name)
        cloud.state.coll("tags").pop(name, None)
        cloud.state.save()
    return 204, None


def _tag_targets(cloud: Cloud, req: Request) -> list[tuple[str, Record]]:
    """(collection key, record) for each resource of the body; 422/404 before anything changes."""
    resources = req.obj().get("resources")
    if not isinstance(resources, list) or not resources:
        raise unprocessable("resources must be a non-empty list of {resource_id, resource_type}.")
    targets = []
    for res in resources:
        kind = res.get("resource_type") if isinstance(res, dict) else None
        if kind not in TAG_RESOURCE_TYPES:
            raise unprocessable(f"resource_type must be one of {sorted(TAG_RESOURCE_TYPES)}.")
        rid = str(res.get("resource_id", ""))
        coll, key = TAG_RESOURCE_TYPES[kind]
        item = cloud.state.coll(coll).get(rid)
        if item is None or (kind == "image" and item.get("public")):
            raise not_found()
        targets.append((key, item))
    return targets


def tags_assign(cloud: Cloud, req: Request) -> Reply:
    with cloud.state.lock:
        name = req.params["tag"]
        if name not in _tag_names(cloud, ):
            raise not_found()
        tag = cloud.state.coll("tags").setdefault(name, {"name": name, "created_at": shapes.now_iso()})
        for key, item in _tag_targets(cloud, req):
            tags = item.setdefault("tags", [])
            if name not in tags:
                tags.append(name)
            uri = f"{req.base_url}/v2/{key}/{item['id']}"
            tag.setdefault("_last", {}).update({key: uri, "any": uri})
        cloud.state.save()
    return 204, None


def tags_unassign(cloud: Cloud, req: Request) -> Reply:
    with cloud.state.lock:
        name = _tag_name(cloud, req)
        for _key, item in _tag_targets(cloud, req):
            if name in (item.get("tags") or []):
                item["tags"].remove(name)
        cloud.state.save()
    return 204, None


ROUTES = [
    Route("GET", r"/v2/tags", tags_list),
    Route("POST", r"/v2/tags", tags_create),
    Route("GET", r"/v2/tags/" + TAG, tags_get),
    Route("DELETE", r"/v2/tags/" + TAG, tags_delete),
    Route("POST", r"/v2/tags/" + TAG + "/resources", tags_assign),
    Route("DELETE", r"/v2/tags/" + TAG + "/resources", tags_unassign),
]
