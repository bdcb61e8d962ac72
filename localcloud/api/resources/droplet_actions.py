"""Droplet actions: power, reboot, snapshot (each a worker through the backend), and their listing."""

from __future__ import annotations

from collections.abc import Callable

from firstboot.sizes import SIZES
from localcloud.api import shapes
from localcloud.api.cloud import Cloud, Work, reads
from localcloud.api.request import Reply, Request, not_found, unprocessable
from localcloud.api.resources.droplets import DEFAULT_REGION
from localcloud.api.router import ACTION_ID, DROPLET_ID, Route

DROPLET_ACTIONS = ("power_off", "power_on", "shutdown", "reboot", "power_cycle", "snapshot")


@reads
def droplet_actions_list(cloud: Cloud, req: Request) -> Reply:
    d = cloud.droplet(req.params["droplet_id"])
    acts = [shapes.action_json(a) for a in cloud.state.coll("actions").values()
            if a["resource_type"] == "droplet" and a["resource_id"] == d["id"]]
    return cloud.listing(req, "actions", sorted(acts, key=lambda a: -a["id"]))


@reads
def droplet_action_get(cloud: Cloud, req: Request) -> Reply:
    d = cloud.droplet(req.params["droplet_id"])
    a = cloud.state.coll("actions").get(req.params["action_id"])
    if a is None or a["resource_type"] != "droplet" or a["resource_id"] != d["id"]:
        raise not_found()
    return 200, {"action": shapes.action_json(a)}


def droplet_actions_post(cloud: Cloud, req: Request) -> Reply:
    body = req.obj()
    kind = body.get("type")
    with cloud.state.lock:
        d = cloud.droplet(req.params["droplet_id"])
        if kind not in DROPLET_ACTIONS:
            raise unprocessable(f"The local cloud supports the actions {', '.join(DROPLET_ACTIONS)}.")
        if cloud.pending("droplet", "resource_id", d["id"]):
            raise unprocessable("Droplet already has a pending event.")
        if d["status"] == "new":
            raise unprocessable("Droplet is still being created.")
        if kind == "power_on" and d["status"] == "active":
            raise unprocessable("Droplet is already powered on.")
        if kind in ("power_off", "shutdown") and d["status"] == "off":
            raise unprocessable("Droplet is already powered off.")
        name = body.get("name") or f"{d['name']}-{shapes.now_iso()}"
        if kind == "snapshot" and not isinstance(name, str):
            raise unprocessable("name must be a string.")
        action = cloud.new_action(kind, "droplet", d["id"], d["region"])
        cloud.state.save()
        reply = {"action": shapes.action_json(action)}  # before the worker can complete it
    cloud.run(action, _droplet_work(cloud, kind, d["id"], name))
    return 201, reply


def _droplet_work(cloud: Cloud, kind: str, did: int, name: str) -> Work:
    def set_status(status: str, ipv4: str | None = None) -> Callable[[], None]:
        def apply() -> None:
            d = cloud.state.coll("droplets").get(str(did))
            if d is not None:
                d["status"] = status
                if ipv4:
                    d["ipv4"] = ipv4
        return apply

    def work() -> Callable[[], None] | None:
        if kind in ("power_off", "shutdown"):
            cloud.backend.power_off(did, graceful=kind == "shutdown")
            return set_status("off")
        if kind == "power_on":
            rt = cloud.backend.power_on(did)
            return set_status("active", rt.ipv4)
        if kind in ("reboot", "power_cycle"):
            rt = cloud.backend.reboot(did)
            return set_status("active", rt.ipv4)
        res = cloud.backend.snapshot(did, name)

        def add_image() -> None:
            d = cloud.state.coll("droplets").get(str(did))
            base = cloud.state.coll("images").get(str(d["image_id"])) if d else None
            iid = cloud.state.next_id("image")
            cloud.state.coll("images")[str(iid)] = {
                "id": iid, "name": name, "type": "snapshot",
                "distribution": (base or {}).get("distribution", "Unknown"), "slug": None,
                "public": False, "regions": [d["region"] if d else DEFAULT_REGION],
                "created_at": shapes.now_iso(),
                "min_disk_size": SIZES[d["size_slug"]].disk_gb if d else 10,
                "size_gigabytes": res.size_gigabytes, "description": f"snapshot of droplet {did}",
                "tags": [], "status": "available", "error_message": "", "_ref": res.ref,
                "_resource_id": did,
            }
            if d is not None:
                d.setdefault("snapshot_ids", []).append(iid)
        return add_image
    return work


ROUTES = [
    Route("GET", r"/v2/droplets/" + DROPLET_ID + "/actions", droplet_actions_list),
    Route("POST", r"/v2/droplets/" + DROPLET_ID + "/actions", droplet_actions_post),
    Route("GET", r"/v2/droplets/" + DROPLET_ID + "/actions/" + ACTION_ID, droplet_action_get),
]
