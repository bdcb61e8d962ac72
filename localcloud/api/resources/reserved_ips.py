"""Reserved IPs: loopback addresses (the network's reserved range) that the backend forwards to
one droplet; assign and unassign are actions."""

from __future__ import annotations

import ipaddress
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from localcloud.api import shapes
from localcloud.api.cloud import Cloud, Record, Work, reads
from localcloud.api.request import Reply, Request, not_found, unprocessable
from localcloud.api.router import ACTION_ID, Route
from localcloud.backend import BackendError

log = logging.getLogger("localcloud.api")

IP = r"(?P<ip>\d{1,3}(?:\.\d{1,3}){3})"


def _rip(cloud: Cloud, ip: str) -> Record:
    r = cloud.state.coll("reserved_ips").get(ip)
    if r is None:
        raise not_found()
    return r


def _rip_json(cloud: Cloud, r: Record) -> Record:
    d = cloud.state.coll("droplets").get(str(r.get("droplet_id"))) if r.get("droplet_id") else None
    return shapes.reserved_ip_json(r, cloud.droplet_json(d) if d else None,
                                   cloud.pending("reserved_ip", "_ip", r["ip"]))


@reads
def reserved_ips_list(cloud: Cloud, req: Request) -> Reply:
    with cloud.state.lock:
        items = [_rip_json(cloud, r) for r in sorted(cloud.state.coll("reserved_ips").values(),
                                                   key=lambda r: ipaddress.ip_address(r["ip"]))]
    return cloud.listing(req, "reserved_ips", items)


@reads
def reserved_ips_get(cloud: Cloud, req: Request) -> Reply:
    with cloud.state.lock:
        return 200, {"reserved_ip": _rip_json(cloud, _rip(cloud, req.params["ip"]))}


def reserved_ips_create(cloud: Cloud, req: Request) -> Reply:
    body = req.obj()
    droplet = None
    if "droplet_id" in body:
        droplet = _droplet_for_assign(cloud, body.get("droplet_id"))
        region = droplet["region"]
    else:
        region = body.get("region")
        if region not in shapes.REGIONS:
            raise unprocessable("You must provide a valid region or droplet_id.")
    with cloud.state.lock:
        ips = cloud.state.coll("reserved_ips")
        first, last = cloud.reserved_range
        free = next((f"127.0.0.{n}" for n in range(first, last + 1)
                     if f"127.0.0.{n}" not in ips), None)
        if free is None:
            raise unprocessable("No reserved IP addresses are left in the local pool.")
        r = {"ip": free, "region": region, "droplet_id": None,
             "project_id": str(uuid.uuid5(uuid.NAMESPACE_URL, cloud.state.data["account_uuid"]))}
        ips[free] = r
        action = _start_assign(cloud, r, droplet) if droplet else None
        cloud.state.save()
        reply: Record = {"reserved_ip": _rip_json(cloud, r)}
        if droplet and action:
            reply["links"] = {
                "droplets": [{"id": droplet["id"], "rel": "droplet",
                              "href": f"{req.base_url}/v2/droplets/{droplet['id']}"}],
                "actions": [{"id": action["id"], "rel": "assign_ip",
                             "href": f"{req.base_url}/v2/actions/{action['id']}"}],
            }
    if action and droplet:
        cloud.run(action, _rip_work(cloud, r["ip"], droplet["id"], droplet.get("ipv4")))
    return 202, reply


def reserved_ips_delete(cloud: Cloud, req: Request) -> Reply:
    with cloud.state.lock:
        r = _rip(cloud, req.params["ip"])
        if cloud.pending("reserved_ip", "_ip", r["ip"]):
            raise unprocessable("The reserved IP has a pending event.")
        del cloud.state.coll("reserved_ips")[r["ip"]]
        cloud.state.save()
    if r.get("droplet_id"):
        try:
            cloud.backend.set_reserved_ip(r["ip"], None, None)
        except BackendError as e:
            log.warning("reserved ip %s: %s", r["ip"], e)
    return 204, None


def _droplet_for_assign(cloud: Cloud, droplet_id: Any) -> Record:
    if not isinstance(droplet_id, int) or isinstance(droplet_id, bool):
        raise unprocessable("droplet_id must be an integer.")
    d = cloud.state.coll("droplets").get(str(droplet_id))
    if d is None:
        raise unprocessable(f"Droplet {droplet_id} was not found.")
    if not d.get("ipv4") or d["status"] == "new":
        raise unprocessable("The droplet is not active yet.")
    return d


def _start_assign(cloud: Cloud, r: Record, d: Record) -> Record:
    return cloud.new_action("assign_ip", "reserved_ip", int(ipaddress.ip_address(r["ip"])), r["region"],
                            ip=r["ip"])


def _quiet_unassign(cloud: Cloud, ip: str) -> None:
    try:
        cloud.backend.set_reserved_ip(ip, None, None)
    except BackendError as e:
        log.warning("reserved ip %s: %s", ip, e)


def _rip_work(cloud: Cloud, ip: str, droplet_id: int | None, ipv4: str | None) -> Work:
    def work() -> Callable[[], None]:
        cloud.backend.set_reserved_ip(ip, droplet_id, ipv4)

        def apply() -> None:
            r = cloud.state.coll("reserved_ips").get(ip)
            gone = droplet_id is not None and str(droplet_id) not in cloud.state.coll("droplets")
            if r is None or gone:
                # Released or its droplet deleted while the action ran: point the address nowhere.
                if r is not None:
                    r["droplet_id"] = None
                threading.Thread(target=_quiet_unassign, args=(cloud, ip), daemon=True).start()
                return
            r["droplet_id"] = droplet_id
        return apply
    return work


def reserved_ip_actions_post(cloud: Cloud, req: Request) -> Reply:
    body = req.obj()
    kind = body.get("type")
    with cloud.state.lock:
        r = _rip(cloud, req.params["ip"])
        if kind not in ("assign", "unassign"):
            raise unprocessable("type must be assign or unassign.")
        if cloud.pending("reserved_ip", "_ip", r["ip"]):
            raise unprocessable("The reserved IP is locked: it already has a pending event.")
        if kind == "assign":
            d = _droplet_for_assign(cloud, body.get("droplet_id"))
            if d["region"] != r["region"]:
                raise unprocessable(f"The reserved IP is in {r['region']}; droplet {d['id']} is in "
                                    f"{d['region']}. Reserved IPs can only be assigned within their region.")
            action = _start_assign(cloud, r, d)
            work = _rip_work(cloud, r["ip"], d["id"], d["ipv4"])
        else:
            if not r.get("droplet_id"):
                raise unprocessable("The reserved IP is not assigned to a droplet.")
            action = cloud.new_action("unassign_ip", "reserved_ip", int(ipaddress.ip_address(r["ip"])),
                                      r["region"], ip=r["ip"])
            work = _rip_work(cloud, r["ip"], None, None)
        cloud.state.save()
        reply = {"action": shapes.action_json(action)}
    cloud.run(action, work)
    return 201, reply


@reads
def reserved_ip_actions_list(cloud: Cloud, req: Request) -> Reply:
    r = _rip(cloud, req.params["ip"])
    acts = [shapes.action_json(a) for a in sorted(cloud.state.coll("actions").values(), key=lambda a: -a["id"])
            if a["resource_type"] == "reserved_ip" and a.get("_ip") == r["ip"]]
    return cloud.listing(req, "actions", acts)


@reads
def reserved_ip_action_get(cloud: Cloud, req: Request) -> Reply:
    r = _rip(cloud, req.params["ip"])
    a = cloud.state.coll("actions").get(req.params["action_id"])
    if a is None or a.get("_ip") != r["ip"]:
        raise not_found()
    return 200, {"action": shapes.action_json(a)}


ROUTES = [
    Route("GET", r"/v2/reserved_ips", reserved_ips_list),
    Route("POST", r"/v2/reserved_ips", reserved_ips_create),
    Route("GET", r"/v2/reserved_ips/" + IP, reserved_ips_get),
    Route("DELETE", r"/v2/reserved_ips/" + IP, reserved_ips_delete),
    Route("GET", r"/v2/reserved_ips/" + IP + "/actions", reserved_ip_actions_list),
    Route("POST", r"/v2/reserved_ips/" + IP + "/actions", reserved_ip_actions_post),
    Route("GET", r"/v2/reserved_ips/" + IP + "/actions/" + ACTION_ID, reserved_ip_action_get),
]
