"""What the local cloud does for each API call: validation, state changes, and asynchronous actions.

Handlers take a parsed `Request` and return `(status, body)`; they raise `ApiError` for DO-shaped
errors. State lives in `State` (one lock, saved after each change); the slow work (booting, powering,
committing, forwarding) runs in worker threads through the `Backend`, so an action is "in-progress"
until the backend is done, then "completed" or "errored" — the way DigitalOcean's actions behave.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from firstboot.sizes import SIZES
from localcloud.api import shapes
from localcloud.backend import Backend, BackendError, DropletSpec
from localcloud.faults import FaultBook
from localcloud.state import State

log = logging.getLogger("localcloud.api")

DROPLET_NAME = re.compile(r"^[a-zA-Z0-9]?[a-z0-9A-Z.\-]*[a-z0-9A-Z]$")
DOMAIN_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
RECORD_TYPES = ("A", "AAAA", "CAA", "CNAME", "MX", "NS", "SOA", "SRV", "TXT")
DROPLET_ACTIONS = ("power_off", "power_on", "shutdown", "reboot", "power_cycle", "snapshot")
RESERVED_FIRST, RESERVED_LAST = 100, 254
TAG_NAME = re.compile(r"^[a-zA-Z0-9_\-:]{1,255}$")
# What /v2/tags/{name}/resources tags here: the resource types the project uses (DO also has volumes,
# volume snapshots and databases, which the local cloud does not have).
TAG_RESOURCE_TYPES = {"droplet": ("droplets", "droplets"), "image": ("images", "images")}
DEFAULT_REGION = "nyc3"


class ApiError(Exception):
    def __init__(self, status: int, error_id: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.error_id = error_id
        self.message = message
        self.headers = headers or {}


def not_found() -> ApiError:
    return ApiError(404, "not_found", "The resource you were accessing could not be found.")


def unprocessable(message: str) -> ApiError:
    return ApiError(422, "unprocessable_entity", message)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    base_url: str
    params: dict[str, str] = field(default_factory=dict)

    def page(self) -> tuple[int, int]:
        try:
            page = int(self.query.get("page", "1"))
            per_page = int(self.query.get("per_page", "20"))
        except ValueError:
            raise ApiError(400, "bad_request", "page and per_page must be integers") from None
        if page < 1 or not 1 <= per_page <= 200:
            raise ApiError(400, "bad_request", "page must be >= 1 and per_page between 1 and 200")
        return page, per_page

    def obj(self) -> dict[str, Any]:
        if not isinstance(self.body, dict):
            raise ApiError(400, "bad_request", "The request body must be a JSON object.")
        return self.body


Reply = tuple[int, Any]
Handler = Callable[["Cloud", Request], Reply]


def reads(handler: Handler) -> Handler:
    """Run a read-only handler under the state lock, so workers cannot change what it iterates."""
    @functools.wraps(handler)
    def locked(self: Cloud, req: Request) -> Reply:
        with self.state.lock:
            return handler(self, req)
    return locked


class Cloud:
    def __init__(self, state: State, backend: Backend, faults: FaultBook,
                 reserved_range: tuple[int, int] = (RESERVED_FIRST, RESERVED_LAST)):
        self.state = state
        # Reserved IPs are 127.0.0.N with N in this range (a second API in tests keeps clear of `local up`'s).
        self.reserved_range = reserved_range
        self.backend = backend
        self.faults = faults
        self.stopping = threading.Event()
        self._workers: list[threading.Thread] = []
        self._workers_lock = threading.Lock()
        self._sync_base_images()
        self._reconcile()

    # ------------------------------------------------------------------ lifecycle helpers

    def _sync_base_images(self) -> None:
        """Give each of the backend's distribution images a stable id (first seen → new id)."""
        images = self.state.coll("images")
        with self.state.lock:
            for b in self.backend.base_images():
                existing = next((i for i in images.values() if i.get("slug") == b.slug), None)
                if existing:
                    existing["_ref"] = b.ref
                    continue
                iid = self.state.next_id("image")
                images[str(iid)] = {
                    "id": iid, "name": b.name, "type": "base", "distribution": b.distribution,
                    "slug": b.slug, "public": True, "regions": list(shapes.REGIONS),
                    "created_at": shapes.now_iso(), "min_disk_size": b.min_disk_size,
                    "size_gigabytes": b.size_gigabytes, "description": f"{b.distribution} {b.name}",
                    "tags": [], "status": "available", "error_message": "", "_ref": b.ref,
                }
            self.state.save()

    def _reconcile(self) -> None:
        """After a restart: actions that were running are lost; droplets reflect what the backend runs."""
        with self.state.lock:
            for a in self.state.coll("actions").values():
                if a["status"] == "in-progress":
                    a["status"] = "errored"
                    a["completed_at"] = shapes.now_iso()
            for d in self.state.coll("droplets").values():
                try:
                    rt = self.backend.droplet_runtime(d["id"])
                except BackendError as e:
                    log.warning("droplet %s: %s", d["id"], e)
                    continue
                if not rt.exists:
                    log.warning("droplet %s is not known to the backend; marking it off", d["id"])
                    d["status"] = "off"
                elif rt.running and rt.ipv4:
                    d["status"], d["ipv4"] = "active", rt.ipv4
                elif not rt.running and d["status"] != "new":
                    d["status"] = "off"
            self.state.save()
            assigned = [(r["ip"], r["droplet_id"]) for r in self.state.coll("reserved_ips").values()
                        if r.get("droplet_id")]
        for ip, did in assigned:
            d = self.state.coll("droplets").get(str(did))
            try:
                self.backend.set_reserved_ip(ip, did, d.get("ipv4") if d else None)
            except BackendError as e:
                log.warning("reserved ip %s: %s", ip, e)

    def close(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.wait_idle(timeout)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait (up to `timeout` in all) until no worker runs (tests and shutdown)."""
        deadline = time.monotonic() + timeout
        with self._workers_lock:
            workers = list(self._workers)
        for t in workers:
            t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in workers)

    def _new_action(self, type_: str, resource_type: str, resource_id: int | None, region: str,
                    **private: Any) -> dict[str, Any]:
        aid = self.state.next_id("action")
        a = {"id": aid, "status": "in-progress", "type": type_, "started_at": shapes.now_iso(),
             "completed_at": None, "resource_id": resource_id, "resource_type": resource_type,
             "region_slug": region, **{f"_{k}": v for k, v in private.items()}}
        self.state.coll("actions")[str(aid)] = a
        return a

    def _run(self, action: dict[str, Any], work: Callable[[], Callable[[], None] | None]) -> None:
        """Run `work` in a worker; it returns a state update applied (under the lock) on success."""
        def target() -> None:
            effect = self.faults.take_action(action["type"])
            status = "completed"
            if effect.delay and self.stopping.wait(effect.delay):
                return
            if effect.error:
                status = "errored"
            else:
                try:
                    apply = work()
                    if apply is not None:
                        with self.state.lock:
                            apply()
                except BackendError as e:
                    log.warning("action %s (%s) errored: %s", action["id"], action["type"], e)
                    status = "errored"
                except Exception:  # a worker must never die silently with the action in progress
                    log.exception("action %s (%s) failed", action["id"], action["type"])
                    status = "errored"
            with self.state.lock:
                action["status"] = status
                action["completed_at"] = shapes.now_iso()
                self.state.save()

        t = threading.Thread(target=target, name=f"action-{action['id']}", daemon=True)
        with self._workers_lock:
            self._workers = [w for w in self._workers if w.is_alive()] + [t]
        t.start()

    def _pending(self, resource_type: str, key: str, value: Any) -> bool:
        return any(a["status"] == "in-progress" and a["resource_type"] == resource_type and a.get(key) == value
                   for a in self.state.coll("actions").values())

    # ------------------------------------------------------------------ lookups

    def _droplet(self, droplet_id: str | int) -> dict[str, Any]:
        d = self.state.coll("droplets").get(str(droplet_id))
        if d is None:
            raise not_found()
        return d

    def _droplet_json(self, d: dict[str, Any]) -> dict[str, Any]:
        image = self.state.coll("images").get(str(d["image_id"]))
        return shapes.droplet_json(d, image, self._pending("droplet", "resource_id", d["id"]))

    def _image(self, ident: str) -> dict[str, Any]:
        images = self.state.coll("images")
        if ident.isdigit():
            img = images.get(ident)
        else:
            img = next((i for i in images.values() if i.get("slug") == ident and i["public"]), None)
        if img is None:
            raise not_found()
        return img

    def _list(self, req: Request, key: str, items: list[Any]) -> Reply:
        page, per_page = req.page()
        chunk, links, meta = shapes.paginate(items, page, per_page, req.base_url, req.path, req.query)
        return 200, {key: chunk, "links": links, "meta": meta}

    # ------------------------------------------------------------------ account and keys

    def account_get(self, req: Request) -> Reply:
        return 200, {"account": {
            "droplet_limit": 25, "floating_ip_limit": 10, "email": "operator@localcloud.invalid",
            "name": "Local cloud", "uuid": self.state.data["account_uuid"], "email_verified": True,
            "status": "active", "status_message": "",
        }}

    @reads
    def keys_list(self, req: Request) -> Reply:
        keys = sorted(self.state.coll("keys").values(), key=lambda k: k["id"])
        return self._list(req, "ssh_keys", keys)

    def _key(self, ident: str) -> dict[str, Any]:
        keys = self.state.coll("keys")
        k = keys.get(ident) if ident.isdigit() else next(
            (k for k in keys.values() if k["fingerprint"] == ident), None)
        if k is None:
            raise not_found()
        return k

    def keys_create(self, req: Request) -> Reply:
        body = req.obj()
        name, public_key = body.get("name"), body.get("public_key")
        if not isinstance(name, str) or not name or not isinstance(public_key, str):
            raise unprocessable("name and public_key are required.")
        fp = shapes.ssh_fingerprint(public_key)
        if fp is None:
            raise unprocessable("Key invalid type, we support 'ssh-rsa', 'ssh-dss', 'ecdsa-sha2-nistp256', "
                                "'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', or 'ssh-ed25519'.")
        with self.state.lock:
            if any(k["fingerprint"] == fp for k in self.state.coll("keys").values()):
                raise unprocessable("SSH Key is already in use on your account")
            kid = self.state.next_id("key")
            key = {"id": kid, "fingerprint": fp, "public_key": public_key.strip(), "name": name}
            self.state.coll("keys")[str(kid)] = key
            self.state.save()
        return 201, {"ssh_key": key}

    @reads
    def keys_get(self, req: Request) -> Reply:
        return 200, {"ssh_key": self._key(req.params["key"])}

    def keys_update(self, req: Request) -> Reply:
        name = req.obj().get("name")
        if not isinstance(name, str) or not name:
            raise unprocessable("name must be a non-empty string.")
        with self.state.lock:
            k = self._key(req.params["key"])
            k["name"] = name
            self.state.save()
        return 200, {"ssh_key": k}

    def keys_delete(self, req: Request) -> Reply:
        with self.state.lock:
            k = self._key(req.params["key"])
            del self.state.coll("keys")[str(k["id"])]
            self.state.save()
        return 204, None

    # ------------------------------------------------------------------ regions and sizes

    def regions_list(self, req: Request) -> Reply:
        return self._list(req, "regions", [shapes.region_json(s) for s in shapes.REGIONS])

    def sizes_list(self, req: Request) -> Reply:
        return self._list(req, "sizes", [shapes.size_json(s) for s in SIZES.values()])

    # ------------------------------------------------------------------ droplets

    @reads
    def droplets_list(self, req: Request) -> Reply:
        items = sorted(self.state.coll("droplets").values(), key=lambda d: d["id"])
        if tag := req.query.get("tag_name"):
            items = [d for d in items if tag in d.get("tags", [])]
        if name := req.query.get("name"):
            items = [d for d in items if d["name"] == name]
        with self.state.lock:
            return self._list(req, "droplets", [self._droplet_json(d) for d in items])

    @reads
    def droplets_get(self, req: Request) -> Reply:
        with self.state.lock:
            return 200, {"droplet": self._droplet_json(self._droplet(req.params["droplet_id"]))}

    def _resolve_keys(self, refs: Any) -> tuple[str, ...]:
        if refs is None:
            return ()
        if not isinstance(refs, list):
            raise unprocessable("ssh_keys must be a list of key ids or fingerprints.")
        out = []
        for ref in refs:
            try:
                out.append(self._key(str(ref))["public_key"])
            except ApiError:
                raise unprocessable(f"The SSH key {ref} was not found on your account.") from None
        return tuple(out)

    def droplets_create(self, req: Request) -> Reply:
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
            image = self._image(str(image_ref))
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
        public_keys = self._resolve_keys(body.get("ssh_keys"))
        sz = SIZES[size]
        created = []
        with self.state.lock:
            for name in names:
                did = self.state.next_id("droplet")
                d = {"id": did, "name": name, "region": region, "size_slug": size, "image_id": image["id"],
                     "status": "new", "created_at": shapes.now_iso(), "tags": list(tags),
                     "snapshot_ids": [], "ipv4": None, "vpc_uuid": str(uuid.uuid5(uuid.NAMESPACE_DNS, region))}
                self.state.coll("droplets")[str(did)] = d
                action = self._new_action("create", "droplet", did, region)
                spec = DropletSpec(did, name, region, size, sz.vcpus, sz.memory_mb, sz.disk_gb, image["_ref"],
                                   user_data, public_keys, tuple(tags))
                created.append((d, action, spec))
            self.state.save()
            # Rendered before any worker starts: the reply always shows status "new", as DO's does.
            links = {"actions": [{"id": a["id"], "rel": "create",
                                  "href": f"{req.base_url}/v2/actions/{a['id']}"} for _, a, _ in created]}
            rendered = [self._droplet_json(d) for d, _, _ in created]
        for _, action, spec in created:
            self._run(action, self._create_work(spec))
        if "names" in body:
            return 202, {"droplets": rendered, "links": links}
        return 202, {"droplet": rendered[0], "links": links}

    def _create_work(self, spec: DropletSpec) -> Callable[[], Callable[[], None] | None]:
        def work() -> Callable[[], None] | None:
            try:
                rt = self.backend.create_droplet(spec)
            except BackendError:
                with self.state.lock:
                    d = self.state.coll("droplets").get(str(spec.id))
                    if d is not None:
                        d["status"] = "off"
                raise

            def apply() -> None:
                d = self.state.coll("droplets").get(str(spec.id))
                if d is None:  # deleted while it was being created: do not leave it running
                    threading.Thread(target=self._quiet_delete, args=(spec.id,), daemon=True).start()
                    return
                d["status"] = "active" if rt.running else "off"
                d["ipv4"] = rt.ipv4
            return apply
        return work

    def _quiet_delete(self, droplet_id: int) -> None:
        try:
            self.backend.delete_droplet(droplet_id)
        except BackendError as e:
            log.warning("cleanup of droplet %s: %s", droplet_id, e)

    def _quiet_unassign(self, ip: str) -> None:
        try:
            self.backend.set_reserved_ip(ip, None, None)
        except BackendError as e:
            log.warning("reserved ip %s: %s", ip, e)

    def _destroy(self, d: dict[str, Any]) -> None:
        """Remove a droplet: release its reserved IPs, delete it in the backend, forget it."""
        with self.state.lock:
            ips = [r for r in self.state.coll("reserved_ips").values() if r.get("droplet_id") == d["id"]]
            for r in ips:
                r["droplet_id"] = None
            self.state.coll("droplets").pop(str(d["id"]), None)
            self.state.save()
        for r in ips:
            try:
                self.backend.set_reserved_ip(r["ip"], None, None)
            except BackendError as e:
                log.warning("reserved ip %s: %s", r["ip"], e)
        try:
            self.backend.delete_droplet(d["id"])
        except BackendError as e:
            raise ApiError(500, "server_error", f"The droplet could not be deleted: {e}") from None

    def droplets_delete(self, req: Request) -> Reply:
        self._destroy(self._droplet(req.params["droplet_id"]))
        return 204, None

    def droplets_delete_by_tag(self, req: Request) -> Reply:
        tag = req.query.get("tag_name")
        if not tag:
            raise ApiError(400, "bad_request", "tag_name is required.")
        with self.state.lock:
            tagged = [d for d in self.state.coll("droplets").values() if tag in d.get("tags", [])]
        for d in tagged:
            self._destroy(d)
        return 204, None

    @reads
    def droplet_snapshots_list(self, req: Request) -> Reply:
        """What Packer's digitalocean builder reads to find the snapshot it just took."""
        d = self._droplet(req.params["droplet_id"])
        items = [{"id": i["id"], "name": i["name"], "created_at": i["created_at"], "regions": list(i["regions"]),
                  "min_disk_size": int(i["min_disk_size"] or 0), "size_gigabytes": float(i["size_gigabytes"] or 0),
                  "type": "snapshot"}
                 for i in sorted(self.state.coll("images").values(), key=lambda i: i["id"])
                 if i["type"] == "snapshot" and i.get("_resource_id") == d["id"]]
        return self._list(req, "snapshots", items)

    @reads
    def droplet_actions_list(self, req: Request) -> Reply:
        d = self._droplet(req.params["droplet_id"])
        acts = [shapes.action_json(a) for a in self.state.coll("actions").values()
                if a["resource_type"] == "droplet" and a["resource_id"] == d["id"]]
        return self._list(req, "actions", sorted(acts, key=lambda a: -a["id"]))

    @reads
    def droplet_action_get(self, req: Request) -> Reply:
        d = self._droplet(req.params["droplet_id"])
        a = self.state.coll("actions").get(req.params["action_id"])
        if a is None or a["resource_type"] != "droplet" or a["resource_id"] != d["id"]:
            raise not_found()
        return 200, {"action": shapes.action_json(a)}

    def droplet_actions_post(self, req: Request) -> Reply:
        body = req.obj()
        kind = body.get("type")
        with self.state.lock:
            d = self._droplet(req.params["droplet_id"])
            if kind not in DROPLET_ACTIONS:
                raise unprocessable(f"The local cloud supports the actions {', '.join(DROPLET_ACTIONS)}.")
            if self._pending("droplet", "resource_id", d["id"]):
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
            action = self._new_action(kind, "droplet", d["id"], d["region"])
            self.state.save()
            reply = {"action": shapes.action_json(action)}  # before the worker can complete it
        self._run(action, self._droplet_work(kind, d["id"], name))
        return 201, reply

    def _droplet_work(self, kind: str, did: int, name: str) -> Callable[[], Callable[[], None] | None]:
        def set_status(status: str, ipv4: str | None = None) -> Callable[[], None]:
            def apply() -> None:
                d = self.state.coll("droplets").get(str(did))
                if d is not None:
                    d["status"] = status
                    if ipv4:
                        d["ipv4"] = ipv4
            return apply

        def work() -> Callable[[], None] | None:
            if kind in ("power_off", "shutdown"):
                self.backend.power_off(did, graceful=kind == "shutdown")
                return set_status("off")
            if kind == "power_on":
                rt = self.backend.power_on(did)
                return set_status("active", rt.ipv4)
            if kind in ("reboot", "power_cycle"):
                rt = self.backend.reboot(did)
                return set_status("active", rt.ipv4)
            res = self.backend.snapshot(did, name)

            def add_image() -> None:
                d = self.state.coll("droplets").get(str(did))
                base = self.state.coll("images").get(str(d["image_id"])) if d else None
                iid = self.state.next_id("image")
                self.state.coll("images")[str(iid)] = {
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

    @reads
    def actions_get(self, req: Request) -> Reply:
        a = self.state.coll("actions").get(req.params["action_id"])
        if a is None:
            raise not_found()
        return 200, {"action": shapes.action_json(a)}

    @reads
    def actions_list(self, req: Request) -> Reply:
        acts = sorted(self.state.coll("actions").values(), key=lambda a: -a["id"])
        return self._list(req, "actions", [shapes.action_json(a) for a in acts])

    # ------------------------------------------------------------------ images and snapshots

    @reads
    def images_list(self, req: Request) -> Reply:
        items = sorted(self.state.coll("images").values(), key=lambda i: i["id"])
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
        return self._list(req, "images", [shapes.image_json(i) for i in items])

    @reads
    def images_get(self, req: Request) -> Reply:
        return 200, {"image": shapes.image_json(self._image(req.params["image"]))}

    def _delete_snapshot_image(self, img: dict[str, Any]) -> None:
        if img["public"]:
            raise unprocessable("Public images cannot be deleted.")
        with self.state.lock:
            self.state.coll("images").pop(str(img["id"]), None)
            for d in self.state.coll("droplets").values():
                if img["id"] in d.get("snapshot_ids", []):
                    d["snapshot_ids"].remove(img["id"])
            self.state.save()
        try:
            self.backend.delete_image(img["_ref"])
        except BackendError as e:
            log.warning("image %s: %s", img["id"], e)

    def images_delete(self, req: Request) -> Reply:
        ident = req.params["image"]
        if not ident.isdigit():
            raise not_found()
        self._delete_snapshot_image(self._image(ident))
        return 204, None

    @reads
    def snapshots_list(self, req: Request) -> Reply:
        items = [] if req.query.get("resource_type") == "volume" else [
            shapes.snapshot_json(i) for i in sorted(self.state.coll("images").values(), key=lambda i: i["id"])
            if i["type"] == "snapshot"]
        return self._list(req, "snapshots", items)

    def _snapshot(self, ident: str) -> dict[str, Any]:
        img = self.state.coll("images").get(ident)
        if img is None or img["type"] != "snapshot":
            raise not_found()
        return img

    @reads
    def snapshots_get(self, req: Request) -> Reply:
        return 200, {"snapshot": shapes.snapshot_json(self._snapshot(req.params["snapshot_id"]))}

    def snapshots_delete(self, req: Request) -> Reply:
        self._delete_snapshot_image(self._snapshot(req.params["snapshot_id"]))
        return 204, None

    # ------------------------------------------------------------------ reserved IPs

    def _rip(self, ip: str) -> dict[str, Any]:
        r = self.state.coll("reserved_ips").get(ip)
        if r is None:
            raise not_found()
        return r

    def _rip_json(self, r: dict[str, Any]) -> dict[str, Any]:
        d = self.state.coll("droplets").get(str(r.get("droplet_id"))) if r.get("droplet_id") else None
        return shapes.reserved_ip_json(r, self._droplet_json(d) if d else None,
                                       self._pending("reserved_ip", "_ip", r["ip"]))

    @reads
    def reserved_ips_list(self, req: Request) -> Reply:
        with self.state.lock:
            items = [self._rip_json(r) for r in sorted(self.state.coll("reserved_ips").values(),
                                                       key=lambda r: ipaddress.ip_address(r["ip"]))]
        return self._list(req, "reserved_ips", items)

    @reads
    def reserved_ips_get(self, req: Request) -> Reply:
        with self.state.lock:
            return 200, {"reserved_ip": self._rip_json(self._rip(req.params["ip"]))}

    def reserved_ips_create(self, req: Request) -> Reply:
        body = req.obj()
        droplet = None
        if "droplet_id" in body:
            droplet = self._droplet_for_assign(body.get("droplet_id"))
            region = droplet["region"]
        else:
            region = body.get("region")
            if region not in shapes.REGIONS:
                raise unprocessable("You must provide a valid region or droplet_id.")
        with self.state.lock:
            ips = self.state.coll("reserved_ips")
            first, last = self.reserved_range
            free = next((f"127.0.0.{n}" for n in range(first, last + 1)
                         if f"127.0.0.{n}" not in ips), None)
            if free is None:
                raise unprocessable("No reserved IP addresses are left in the local pool.")
            r = {"ip": free, "region": region, "droplet_id": None,
                 "project_id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.state.data["account_uuid"]))}
            ips[free] = r
            action = self._start_assign(r, droplet) if droplet else None
            self.state.save()
            reply: dict[str, Any] = {"reserved_ip": self._rip_json(r)}
            if droplet and action:
                reply["links"] = {
                    "droplets": [{"id": droplet["id"], "rel": "droplet",
                                  "href": f"{req.base_url}/v2/droplets/{droplet['id']}"}],
                    "actions": [{"id": action["id"], "rel": "assign_ip",
                                 "href": f"{req.base_url}/v2/actions/{action['id']}"}],
                }
        if action:
            self._run(action, self._rip_work(r["ip"], droplet["id"], droplet.get("ipv4")))
        return 202, reply

    def reserved_ips_delete(self, req: Request) -> Reply:
        with self.state.lock:
            r = self._rip(req.params["ip"])
            if self._pending("reserved_ip", "_ip", r["ip"]):
                raise unprocessable("The reserved IP has a pending event.")
            del self.state.coll("reserved_ips")[r["ip"]]
            self.state.save()
        if r.get("droplet_id"):
            try:
                self.backend.set_reserved_ip(r["ip"], None, None)
            except BackendError as e:
                log.warning("reserved ip %s: %s", r["ip"], e)
        return 204, None

    def _droplet_for_assign(self, droplet_id: Any) -> dict[str, Any]:
        if not isinstance(droplet_id, int) or isinstance(droplet_id, bool):
            raise unprocessable("droplet_id must be an integer.")
        d = self.state.coll("droplets").get(str(droplet_id))
        if d is None:
            raise unprocessable(f"Droplet {droplet_id} was not found.")
        if not d.get("ipv4") or d["status"] == "new":
            raise unprocessable("The droplet is not active yet.")
        return d

    def _start_assign(self, r: dict[str, Any], d: dict[str, Any]) -> dict[str, Any]:
        return self._new_action("assign_ip", "reserved_ip", int(ipaddress.ip_address(r["ip"])), r["region"],
                                ip=r["ip"])

    def _rip_work(self, ip: str, droplet_id: int | None, ipv4: str | None) -> Callable[[], Callable[[], None]]:
        def work() -> Callable[[], None]:
            self.backend.set_reserved_ip(ip, droplet_id, ipv4)

            def apply() -> None:
                r = self.state.coll("reserved_ips").get(ip)
                gone = droplet_id is not None and str(droplet_id) not in self.state.coll("droplets")
                if r is None or gone:
                    # Released or its droplet deleted while the action ran: point the address nowhere.
                    if r is not None:
                        r["droplet_id"] = None
                    threading.Thread(target=self._quiet_unassign, args=(ip,), daemon=True).start()
                    return
                r["droplet_id"] = droplet_id
            return apply
        return work

    def reserved_ip_actions_post(self, req: Request) -> Reply:
        body = req.obj()
        kind = body.get("type")
        with self.state.lock:
            r = self._rip(req.params["ip"])
            if kind not in ("assign", "unassign"):
                raise unprocessable("type must be assign or unassign.")
            if self._pending("reserved_ip", "_ip", r["ip"]):
                raise unprocessable("The reserved IP is locked: it already has a pending event.")
            if kind == "assign":
                d = self._droplet_for_assign(body.get("droplet_id"))
                if d["region"] != r["region"]:
                    raise unprocessable(f"The reserved IP is in {r['region']}; droplet {d['id']} is in "
                                        f"{d['region']}. Reserved IPs can only be assigned within their region.")
                action = self._start_assign(r, d)
                work = self._rip_work(r["ip"], d["id"], d["ipv4"])
            else:
                if not r.get("droplet_id"):
                    raise unprocessable("The reserved IP is not assigned to a droplet.")
                action = self._new_action("unassign_ip", "reserved_ip", int(ipaddress.ip_address(r["ip"])),
                                          r["region"], ip=r["ip"])
                work = self._rip_work(r["ip"], None, None)
            self.state.save()
            reply = {"action": shapes.action_json(action)}
        self._run(action, work)
        return 201, reply

    @reads
    def reserved_ip_actions_list(self, req: Request) -> Reply:
        r = self._rip(req.params["ip"])
        acts = [shapes.action_json(a) for a in sorted(self.state.coll("actions").values(), key=lambda a: -a["id"])
                if a["resource_type"] == "reserved_ip" and a.get("_ip") == r["ip"]]
        return self._list(req, "actions", acts)

    @reads
    def reserved_ip_action_get(self, req: Request) -> Reply:
        r = self._rip(req.params["ip"])
        a = self.state.coll("actions").get(req.params["action_id"])
        if a is None or a.get("_ip") != r["ip"]:
            raise not_found()
        return 200, {"action": shapes.action_json(a)}

    # ------------------------------------------------------------------ domains and records

    def _domain(self, name: str) -> dict[str, Any]:
        d = self.state.coll("domains").get(name.lower())
        if d is None:
            raise not_found()
        return d

    def _records(self, domain: str) -> list[dict[str, Any]]:
        return sorted((r for r in self.state.coll("records").values() if r["_domain"] == domain),
                      key=lambda r: r["id"])

    def _domain_json(self, d: dict[str, Any]) -> dict[str, Any]:
        return {"name": d["name"], "ttl": d["ttl"],
                "zone_file": shapes.zone_file(d["name"], d["ttl"], self._records(d["name"]))}

    @reads
    def domains_list(self, req: Request) -> Reply:
        with self.state.lock:
            items = [self._domain_json(d) for d in sorted(self.state.coll("domains").values(),
                                                          key=lambda d: d["name"])]
        return self._list(req, "domains", items)

    @reads
    def domains_get(self, req: Request) -> Reply:
        with self.state.lock:
            return 200, {"domain": self._domain_json(self._domain(req.params["domain"]))}

    def domains_create(self, req: Request) -> Reply:
        body = req.obj()
        name = str(body.get("name") or "").lower().rstrip(".")
        if not DOMAIN_NAME.match(name):
            raise unprocessable("Name is not a valid domain name.")
        ip = body.get("ip_address")
        if ip is not None:
            self._check_data("A", ip)
        with self.state.lock:
            if name in self.state.coll("domains"):
                raise unprocessable("Name already exists.")
            d = {"name": name, "ttl": 1800}
            self.state.coll("domains")[name] = d
            for ns in ("ns1", "ns2", "ns3"):
                self._add_record(name, {"type": "NS", "name": "@", "data": f"{ns}.digitalocean.com", "ttl": 1800})
            if ip is not None:
                self._add_record(name, {"type": "A", "name": "@", "data": ip, "ttl": 1800})
            self.state.save()
            return 201, {"domain": self._domain_json(d)}

    def domains_delete(self, req: Request) -> Reply:
        with self.state.lock:
            d = self._domain(req.params["domain"])
            for r in self._records(d["name"]):
                del self.state.coll("records")[str(r["id"])]
            del self.state.coll("domains")[d["name"]]
            self.state.save()
        return 204, None

    @staticmethod
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

    @staticmethod
    def _relative(name: str, domain: str) -> str:
        name = name.rstrip(".").lower() if name != "@" else name
        if name == domain:
            return "@"
        if name.endswith("." + domain):
            return name[: -len(domain) - 1]
        return name

    def _add_record(self, domain: str, fields: dict[str, Any]) -> dict[str, Any]:
        rid = self.state.next_id("record")
        r = {"id": rid, "type": fields["type"], "name": self._relative(fields.get("name") or "@", domain),
             "data": fields.get("data"), "priority": fields.get("priority"), "port": fields.get("port"),
             "ttl": int(fields.get("ttl") or 1800), "weight": fields.get("weight"), "flags": fields.get("flags"),
             "tag": fields.get("tag"), "_domain": domain}
        self.state.coll("records")[str(rid)] = r
        return r

    @reads
    def records_list(self, req: Request) -> Reply:
        d = self._domain(req.params["domain"])
        items = self._records(d["name"])
        if name := req.query.get("name"):  # the FQDN, as DigitalOcean filters it
            fq = name.rstrip(".").lower()
            items = [r for r in items if (d["name"] if r["name"] == "@" else f"{r['name']}.{d['name']}") == fq]
        if rtype := req.query.get("type"):
            items = [r for r in items if r["type"] == rtype]
        return self._list(req, "domain_records", [shapes.record_json(r) for r in items])

    def _validate_record(self, fields: dict[str, Any]) -> None:
        rtype = fields.get("type")
        if rtype not in RECORD_TYPES or rtype == "SOA":
            raise unprocessable(f"Type must be one of {', '.join(t for t in RECORD_TYPES if t != 'SOA')}.")
        if not isinstance(fields.get("name"), str) or not fields["name"]:
            raise unprocessable("Name needs to be a non-empty string.")
        self._check_data(rtype, fields.get("data"))
        if fields.get("ttl") is not None and (not isinstance(fields["ttl"], int) or fields["ttl"] < 30):
            raise unprocessable("TTL must be an integer of at least 30 seconds.")
        if rtype in ("MX", "SRV") and not isinstance(fields.get("priority"), int):
            raise unprocessable("Priority is required for MX and SRV records.")

    def records_create(self, req: Request) -> Reply:
        body = req.obj()
        with self.state.lock:
            d = self._domain(req.params["domain"])
            self._validate_record(body)
            r = self._add_record(d["name"], body)
            self.state.save()
        return 201, {"domain_record": shapes.record_json(r)}

    def _record(self, req: Request) -> dict[str, Any]:
        d = self._domain(req.params["domain"])
        r = self.state.coll("records").get(req.params["record_id"])
        if r is None or r["_domain"] != d["name"]:
            raise not_found()
        return r

    @reads
    def records_get(self, req: Request) -> Reply:
        return 200, {"domain_record": shapes.record_json(self._record(req))}

    def records_update(self, req: Request) -> Reply:
        body = req.obj()
        with self.state.lock:
            r = self._record(req)
            merged = {**r, **{k: v for k, v in body.items() if k != "id"}}
            self._validate_record(merged)
            merged["name"] = self._relative(merged["name"], r["_domain"])
            r.update({k: merged[k] for k in ("type", "name", "data", "priority", "port", "ttl", "weight",
                                              "flags", "tag")})
            self.state.save()
        return 200, {"domain_record": shapes.record_json(r)}

    def records_delete(self, req: Request) -> Reply:
        with self.state.lock:
            r = self._record(req)
            del self.state.coll("records")[str(r["id"])]
            self.state.save()
        return 204, None


    # ------------------------------------------------------------------ tags

    def _tag_names(self) -> list[str]:
        """Tags the account has: created ones and those put on droplets at create time (DO creates a
        droplet's tags on the fly)."""
        names = set(self.state.coll("tags"))
        for coll in ("droplets", "images"):
            for item in self.state.coll(coll).values():
                names.update(item.get("tags") or [])
        return sorted(names)

    def _tagged(self, name: str, coll: str) -> list[dict[str, Any]]:
        return sorted((i for i in self.state.coll(coll).values() if name in (i.get("tags") or [])),
                      key=lambda i: i["id"])

    def _tag_json(self, name: str, base_url: str) -> dict[str, Any]:
        last = (self.state.coll("tags").get(name) or {}).get("_last", {})
        resources: dict[str, Any] = {"count": 0}
        for coll, key in TAG_RESOURCE_TYPES.values():
            items = self._tagged(name, coll)
            entry: dict[str, Any] = {"count": len(items)}
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

    def _tag_name(self, req: Request) -> str:
        name = req.params["tag"]
        if name not in self._tag_names():
            raise not_found()
        return name

    @reads
    def tags_list(self, req: Request) -> Reply:
        return self._list(req, "tags", [self._tag_json(n, req.base_url) for n in self._tag_names()])

    @reads
    def tags_get(self, req: Request) -> Reply:
        return 200, {"tag": self._tag_json(self._tag_name(req), req.base_url)}

    def tags_create(self, req: Request) -> Reply:
        name = req.obj().get("name")
        if not isinstance(name, str) or not TAG_NAME.match(name):
            raise unprocessable("name must be 1 to 255 letters, numbers, colons, dashes or underscores.")
        with self.state.lock:
            # Idempotent as on DigitalOcean: creating an existing tag answers 201 with it.
            self.state.coll("tags").setdefault(name, {"name": name, "created_at": shapes.now_iso()})
            self.state.save()
            return 201, {"tag": self._tag_json(name, req.base_url)}

    def tags_delete(self, req: Request) -> Reply:
        with self.state.lock:
            name = self._tag_name(req)
            for coll in ("droplets", "images"):
                for item in self._tagged(name, coll):
                    item["tags"].remove(name)
            self.state.coll("tags").pop(name, None)
            self.state.save()
        return 204, None

    def _tag_targets(self, req: Request) -> list[tuple[str, dict[str, Any]]]:
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
            item = self.state.coll(coll).get(rid)
            if item is None or (kind == "image" and item.get("public")):
                raise not_found()
            targets.append((key, item))
        return targets

    def tags_assign(self, req: Request) -> Reply:
        with self.state.lock:
            name = req.params["tag"]
            if name not in self._tag_names():
                raise not_found()
            tag = self.state.coll("tags").setdefault(name, {"name": name, "created_at": shapes.now_iso()})
            for key, item in self._tag_targets(req):
                tags = item.setdefault("tags", [])
                if name not in tags:
                    tags.append(name)
                uri = f"{req.base_url}/v2/{key}/{item['id']}"
                tag.setdefault("_last", {}).update({key: uri, "any": uri})
            self.state.save()
        return 204, None

    def tags_unassign(self, req: Request) -> Reply:
        with self.state.lock:
            name = self._tag_name(req)
            for _key, item in self._tag_targets(req):
                if name in (item.get("tags") or []):
                    item["tags"].remove(name)
            self.state.save()
        return 204, None


_ID = r"(?P<{}>\d+)"
_IP = r"(?P<ip>\d{1,3}(?:\.\d{1,3}){3})"
_DOMAIN = r"(?P<domain>[A-Za-z0-9.\-]+)"
_TAG = r"(?P<tag>[A-Za-z0-9_:\-]+)"

# (method, path regex, Cloud method name)
ROUTES: list[tuple[str, str, str]] = [
    ("GET", r"/v2/account", "account_get"),
    ("GET", r"/v2/account/keys", "keys_list"),
    ("POST", r"/v2/account/keys", "keys_create"),
    ("GET", r"/v2/account/keys/(?P<key>[^/]+)", "keys_get"),
    ("PUT", r"/v2/account/keys/(?P<key>[^/]+)", "keys_update"),
    ("DELETE", r"/v2/account/keys/(?P<key>[^/]+)", "keys_delete"),
    ("GET", r"/v2/regions", "regions_list"),
    ("GET", r"/v2/sizes", "sizes_list"),
    ("GET", r"/v2/droplets", "droplets_list"),
    ("POST", r"/v2/droplets", "droplets_create"),
    ("DELETE", r"/v2/droplets", "droplets_delete_by_tag"),
    ("GET", r"/v2/droplets/" + _ID.format("droplet_id"), "droplets_get"),
    ("DELETE", r"/v2/droplets/" + _ID.format("droplet_id"), "droplets_delete"),
    ("GET", r"/v2/droplets/" + _ID.format("droplet_id") + "/snapshots", "droplet_snapshots_list"),
    ("GET", r"/v2/droplets/" + _ID.format("droplet_id") + "/actions", "droplet_actions_list"),
    ("POST", r"/v2/droplets/" + _ID.format("droplet_id") + "/actions", "droplet_actions_post"),
    ("GET", r"/v2/droplets/" + _ID.format("droplet_id") + "/actions/" + _ID.format("action_id"),
     "droplet_action_get"),
    ("GET", r"/v2/actions", "actions_list"),
    ("GET", r"/v2/actions/" + _ID.format("action_id"), "actions_get"),
    ("GET", r"/v2/images", "images_list"),
    ("GET", r"/v2/images/(?P<image>[^/]+)", "images_get"),
    ("DELETE", r"/v2/images/(?P<image>[^/]+)", "images_delete"),
    ("GET", r"/v2/snapshots", "snapshots_list"),
    ("GET", r"/v2/snapshots/" + _ID.format("snapshot_id"), "snapshots_get"),
    ("DELETE", r"/v2/snapshots/" + _ID.format("snapshot_id"), "snapshots_delete"),
    ("GET", r"/v2/reserved_ips", "reserved_ips_list"),
    ("POST", r"/v2/reserved_ips", "reserved_ips_create"),
    ("GET", r"/v2/reserved_ips/" + _IP, "reserved_ips_get"),
    ("DELETE", r"/v2/reserved_ips/" + _IP, "reserved_ips_delete"),
    ("GET", r"/v2/reserved_ips/" + _IP + "/actions", "reserved_ip_actions_list"),
    ("POST", r"/v2/reserved_ips/" + _IP + "/actions", "reserved_ip_actions_post"),
    ("GET", r"/v2/reserved_ips/" + _IP + "/actions/" + _ID.format("action_id"), "reserved_ip_action_get"),
    ("GET", r"/v2/domains", "domains_list"),
    ("POST", r"/v2/domains", "domains_create"),
    ("GET", r"/v2/domains/" + _DOMAIN, "domains_get"),
    ("DELETE", r"/v2/domains/" + _DOMAIN, "domains_delete"),
    ("GET", r"/v2/domains/" + _DOMAIN + "/records", "records_list"),
    ("POST", r"/v2/domains/" + _DOMAIN + "/records", "records_create"),
    ("GET", r"/v2/domains/" + _DOMAIN + "/records/" + _ID.format("record_id"), "records_get"),
    ("PATCH", r"/v2/domains/" + _DOMAIN + "/records/" + _ID.format("record_id"), "records_update"),
    ("PUT", r"/v2/domains/" + _DOMAIN + "/records/" + _ID.format("record_id"), "records_update"),
    ("DELETE", r"/v2/domains/" + _DOMAIN + "/records/" + _ID.format("record_id"), "records_delete"),
    ("GET", r"/v2/tags", "tags_list"),
    ("POST", r"/v2/tags", "tags_create"),
    ("GET", r"/v2/tags/" + _TAG, "tags_get"),
    ("DELETE", r"/v2/tags/" + _TAG, "tags_delete"),
    ("POST", r"/v2/tags/" + _TAG + "/resources", "tags_assign"),
    ("DELETE", r"/v2/tags/" + _TAG + "/resources", "tags_unassign"),
]
COMPILED = [(m, re.compile(p.rstrip("/") + "/?$"), h) for m, p, h in ROUTES]


def route(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """The Cloud method for a request, with its path parameters; ('', {}) when only the method is wrong."""
    path_matched = False
    for m, rx, handler in COMPILED:
        match = rx.match(path)
        if match:
            if m == method:
                return handler, match.groupdict()
            path_matched = True
    return ("", {}) if path_matched else None
